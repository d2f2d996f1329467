"""A store never changes its LLM mode silently (issue 19, finding 3). ``config.json`` keeps
``provider: "auto"``; the mode it resolved to is kept in the store, and reopening it where
``auto`` resolves otherwise is an error that says how to choose (``--llm none``). Chosen
explicitly, no-LLM mode never turns a failed LLM batch into raw-turn memories, and no
failure is listed that no longer holds."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lightmem import Memory
from lightmem.cli import main
from lightmem.errors import ConfigError
from tests.fakes.openai_server import FakeOpenAIServer

CONFIG: dict[str, Any] = {
    "embedder": {"provider": "hash", "options": {"dim": 64}},
    "llm": {"provider": "auto", "options": {"max_retries": 0, "backoff": 0}},
    "buffer": {"sensory_tokens": 100_000, "shortterm_tokens": 100_000},
    "extraction": {"max_retries": 0},
}
FACT = json.dumps({"memories": [{"text": "Maya adopted a cat called Pixel.", "sources": [1]}]})


def built_with_a_failed_batch(
    path: Path, server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store built in openai mode through ``auto`` (the endpoint in the environment),
    whose one batch failed."""
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    with Memory(path, config=CONFIG) as mem:
        assert mem.llm_mode == "openai"
        mem.add("I adopted a cat called Pixel", user_id="maya")
        server.error(500, "upstream exploded")
        assert len(mem.flush().failed_batches) == 1
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert json.loads((path / "config.json").read_text())["llm"]["provider"] == "auto"


def test_reopened_without_its_endpoint_it_says_so_instead_of_running_without_an_llm(
    tmp_path: Path, openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store"
    built_with_a_failed_batch(path, openai_server, monkeypatch)
    with pytest.raises(ConfigError) as info:
        Memory(path)  # the saved config, no endpoint variables
    said = str(info.value)
    for part in (
        "built in openai mode",
        "no LLM endpoint is configured",
        "OPENAI_BASE_URL",
        "--llm none",
        'llm.provider = "none"',
    ):
        assert part in said, part

    with Memory(path, llm="none") as mem:  # chosen explicitly
        assert mem.llm_mode == "none"
        result = mem.flush()
        assert result.entries_created == 0 and mem.get_all(user_id="maya") == []
        (batch,) = mem.store.list_batches()
        assert batch.status == "failed"  # it waits for an LLM, it does not become raw turns
        usage = mem.usage()
        assert usage.failed_batches == 1
        assert [(f.where, f.ref) for f in usage.failures] == [("extraction", batch.id)]

    # the store is now in no-LLM mode; an endpoint appearing does not switch it silently
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    with pytest.raises(ConfigError, match=r"built in no-LLM mode.*--llm openai"):
        Memory(path, llm="auto")
    openai_server.reply(FACT)
    with Memory(path, llm="openai") as mem:  # chosen explicitly: the failed batch's turn
        assert mem.flush().entries_created == 1  # is extracted, with the LLM
        (entry,) = mem.get_all(user_id="maya")
        assert entry.origin == "llm"
        usage = mem.usage()
        assert usage.failed_batches == 0 and usage.failures == []  # nothing stale listed


def test_a_store_built_in_local_mode_is_told_to_name_the_provider(tmp_path: Path) -> None:
    """A partial --config (no [llm]) made it 'auto': the advice was to set OPENAI_BASE_URL,
    which a local-mode store never had."""
    path = tmp_path / "store"
    with Memory(path, config={**CONFIG, "llm": {"provider": "local"}}) as mem:
        assert mem.llm_mode == "local"
    with pytest.raises(ConfigError) as info:
        Memory(path, config={**CONFIG, "llm": {"provider": "auto"}})
    said = str(info.value)
    assert "built in local mode" in said and "--llm local" in said
    assert "OPENAI_BASE_URL" not in said


def test_a_store_built_before_the_mode_was_kept_is_known_by_its_llm_calls(
    tmp_path: Path, openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store"
    built_with_a_failed_batch(path, openai_server, monkeypatch)
    with sqlite3.connect(path / "lightmem.sqlite3") as db:
        db.execute("DELETE FROM meta WHERE key = 'llm_mode'")
    with pytest.raises(ConfigError, match="built in an LLM"):
        Memory(path)


def test_the_cli_names_the_choice_and_takes_it(
    tmp_path: Path, openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store"
    built_with_a_failed_batch(path, openai_server, monkeypatch)

    def run(*args: str) -> tuple[int, str, str]:
        with CliRunner().isolation() as (out, err, _):
            code = main(["--store", str(path), *args])
            return code, out.getvalue().decode(), err.getvalue().decode()

    code, _, err = run("stats")
    assert code == 2 and "--llm none" in err
    code, _, err = run("doctor", "--json")
    assert code == 1 and "built in openai mode" in err + _
    code, out, _ = run("--llm", "none", "flush", "--json")
    assert code == 0 and json.loads(out)["entries_created"] == 0
    code, out, _ = run("stats", "--json")  # none is now the store's chosen mode
    stats = json.loads(out)
    assert code == 0 and stats["llm_mode"] == "none" and stats["entries"] == 0
    assert stats["failed_batches"] == 1 and len(stats["failures"]) == 1
