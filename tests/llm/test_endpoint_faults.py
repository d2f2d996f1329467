"""An OpenAI-compatible endpoint that answers 429 or 500, or never answers in time (the
fake server in ``tests/fakes``): extraction and consolidation fail visibly, lose nothing,
and finish once the endpoint recovers. (An endpoint that never answers leaves the batch
pending instead of failed: ``test_endpoint_down``.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lightmem import Memory
from lightmem.types import TurnStage
from tests.fakes.openai_server import FakeOpenAIServer

#: A response that comes long after the client gave up (the server wakes when stopped).
NEVER_S = 300
CLIENT_TIMEOUT_S = 2.0
GOOD = {"memories": [{"text": "Maya adopted a cat called Pixel.", "sources": [1]}]}

#: name -> (how the server fails one request, the error text the batch keeps)
FAULTS: dict[str, tuple[dict[str, Any], str]] = {
    "429": ({"status": 429, "message": "slow down", "headers": {"Retry-After": "0"}}, "429"),
    "500": ({"status": 500, "message": "upstream exploded"}, "HTTP 500"),
    "503": ({"status": 503, "message": "overloaded"}, "HTTP 503"),
    "timeout": ({"delay": NEVER_S}, "timed out"),
}


def fail_once(server: FakeOpenAIServer, fault: str) -> None:
    how, _ = FAULTS[fault]
    if "delay" in how:
        server.reply(json.dumps(GOOD), delay=how["delay"])
    else:
        server.error(how["status"], how["message"], headers=how.get("headers"))


def open_memory(path: Path, server: FakeOpenAIServer, **overrides: Any) -> Memory:
    config: dict[str, Any] = {
        "embedder": {"provider": "hash", "options": {"dim": 64}},
        "llm": {
            "provider": "openai",
            "options": {
                "base_url": server.base_url,
                "api_key": "sk-test",
                "max_retries": 1,  # two HTTP attempts per call
                "backoff": 0,
                "timeout": CLIENT_TIMEOUT_S,
            },
        },
        "buffer": {"sensory_tokens": 100_000, "shortterm_tokens": 100_000},
        "extraction": {"max_retries": 1},
        "consolidation": {"threshold": -1.0, "workers": 1},
        **overrides,
    }
    return Memory(path, config=config)


@pytest.mark.parametrize("fault", sorted(f for f in FAULTS if f != "timeout"))
def test_extraction_fails_visibly_and_recovers(
    tmp_path: Path, openai_server: FakeOpenAIServer, fault: str
) -> None:
    with open_memory(tmp_path / "store", openai_server) as mem:
        mem.add("I adopted a cat called Pixel", user_id="maya")
        fail_once(openai_server, fault)
        fail_once(openai_server, fault)  # the retry fails too
        result = mem.flush()
        assert len(result.failed_batches) == 1 and result.entries_created == 0
        assert len(openai_server.chat_requests) == 2
        usage = mem.usage()
        assert usage.failed_batches == 1 and usage.pending_batches == 0
        (batch,) = mem.store.list_batches()
        assert batch.status == "failed" and FAULTS[fault][1] in (batch.last_error or "")
        assert "sk-test" not in (batch.last_error or "")
        assert all(t.stage == TurnStage.BATCHED for t in mem.turns(user_id="maya"))

        openai_server.reply(json.dumps(GOOD))  # the endpoint is back
        again = mem.flush()
        assert again.entries_created == 1 and not again.failed_batches
        assert mem.usage().failed_batches == 0
        (turn,) = mem.turns(user_id="maya")
        (entry,) = mem.get_all(user_id="maya")
        assert turn.stage == TurnStage.EXTRACTED and entry.sources == [turn.id]


@pytest.mark.parametrize("fault", ["429", "500", "timeout"])
def test_one_transient_fault_is_retried(
    tmp_path: Path, openai_server: FakeOpenAIServer, fault: str
) -> None:
    with open_memory(tmp_path / "store", openai_server) as mem:
        mem.add("I adopted a cat called Pixel", user_id="maya")
        fail_once(openai_server, fault)
        openai_server.reply("Sure! " + json.dumps(GOOD)[:20])  # then a cut-off reply
        openai_server.reply(json.dumps(GOOD))  # re-asked with the problem: a good one
        result = mem.flush()
        assert result.entries_created == 1 and not result.failed_batches
        usage = mem.usage()
        assert usage.stages["extraction"].calls == 2
        assert usage.stages["extraction"].failed_calls == 1
        assert len(openai_server.chat_requests) == 3


def test_background_worker_records_endpoint_failures(
    tmp_path: Path, openai_server: FakeOpenAIServer
) -> None:
    with open_memory(
        tmp_path / "store",
        openai_server,
        buffer={"sensory_tokens": 1, "max_segment_tokens": 1, "shortterm_tokens": 0},
        worker={"background": True},
    ) as mem:
        openai_server.error(500, "down").error(500, "down")  # both HTTP attempts
        mem.add("I adopted a cat called Pixel", user_id="maya")
        assert mem.wait(timeout=120)
        usage = mem.usage()
        assert [f.where for f in usage.failures] == ["extraction"]  # handled, not crashed
        assert "HTTP 500" in usage.failures[0].message
        assert usage.failed_batches == 1
        assert len(openai_server.chat_requests) == 2
        openai_server.reply(json.dumps(GOOD))
        assert mem.flush().entries_created == 1
        assert mem.usage().failed_batches == 0


def seed_pair(mem: Memory, server: FakeOpenAIServer) -> tuple[str, str]:
    """An older and a newer entry of the same user (a consolidation target and its source)."""
    for day, text in ((1, "Maya's cat Pixel eats salmon."), (2, "Pixel eats chicken now.")):
        mem.add(text, user_id="maya", timestamp=f"2024-05-0{day}T10:00:00")
        server.reply(json.dumps({"memories": [{"text": text, "sources": [1]}]}))
        assert mem.flush().entries_created == 1
    old, new = mem.get_all(user_id="maya")
    return old.id, new.id


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_consolidation_fails_without_change_and_recovers(
    tmp_path: Path, openai_server: FakeOpenAIServer, fault: str
) -> None:
    with open_memory(tmp_path / "store", openai_server) as mem:
        old_id, new_id = seed_pair(mem, openai_server)
        before = mem.get(old_id)
        fail_once(openai_server, fault)
        fail_once(openai_server, fault)
        result = mem.consolidate()
        assert result.failed == [old_id]
        after = mem.get(old_id)
        assert (after.text, after.version) == (before.text, before.version)
        assert new_id in mem.store.consolidation_queue()

        update = {"action": "update", "text": "Pixel ate salmon, now eats chicken.", "reason": "r"}
        openai_server.reply(json.dumps(update))
        again = mem.consolidate()
        assert again.updated == 1 and not again.failed
        assert mem.get(old_id).text == update["text"]
        assert not mem.store.consolidation_queue()


def test_consolidation_endpoint_failure_shows_in_usage(
    tmp_path: Path, openai_server: FakeOpenAIServer
) -> None:
    with open_memory(tmp_path / "store", openai_server) as mem:
        seed_pair(mem, openai_server)
        before = mem.usage()
        openai_server.error(500, "down")
        openai_server.error(500, "down")
        assert mem.consolidate().failed
        after = mem.usage()
        assert after != before, "the failed consolidation is not visible in usage()"
