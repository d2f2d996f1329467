"""What a store keeps of the config it was opened with: a config given later is laid over
the saved one, keyword arguments are saved, the environment is not (a variable set for one
run changed the store for good)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lightmem import Memory

CONFIG = {"embedder": {"provider": "hash", "options": {"dim": 64}}, "llm": "none"}


def saved(path: Path) -> dict[str, Any]:
    return json.loads((path / "config.json").read_text())


def test_the_environment_applies_to_its_run_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "store"
    with Memory(path, config=CONFIG) as mem:
        mem.add("I love hiking. I love the Alps. I love lakes.", user_id="u")
        mem.flush(user_id="u")
    monkeypatch.setenv("LIGHTMEM_RETRIEVAL__LIMIT", "2")
    monkeypatch.setenv("LIGHTMEM_PROXY__HISTORY_TURNS", "4")
    with Memory(path) as mem:
        assert mem.config.retrieval.limit == 2 and mem.config.proxy.history_turns == 4
    monkeypatch.delenv("LIGHTMEM_RETRIEVAL__LIMIT")
    monkeypatch.delenv("LIGHTMEM_PROXY__HISTORY_TURNS")
    with Memory(path) as mem:
        assert mem.config.retrieval.limit == 10 and mem.config.proxy.history_turns == 0
        assert mem.config.embedder.options == {"dim": 64}  # the saved config still holds
    assert saved(path)["retrieval"]["limit"] == 10


def test_keyword_arguments_and_a_later_config_are_saved(tmp_path: Path) -> None:
    path = tmp_path / "store"
    Memory(path, config=CONFIG).close()
    Memory(path, config={"retrieval": {"mode": "bm25"}}).close()
    Memory(path, proxy={"budget_tokens": 500}).close()
    kept = saved(path)
    assert kept["retrieval"]["mode"] == "bm25" and kept["proxy"]["budget_tokens"] == 500
    assert kept["embedder"] == CONFIG["embedder"] and kept["llm"]["provider"] == "none"
