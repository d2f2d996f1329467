"""Failures a user can read: ``usage().failures`` (and the log) say where, when and why a
batch or the background worker failed, never with user text (consolidation failures:
``test_llm_pipeline.py``); a turn too long for one call is cut for the prompt only."""

from __future__ import annotations

import logging
import random
from pathlib import Path
from typing import Any

import pytest

from lightmem import Memory
from lightmem.errors import ProviderError
from lightmem.failures import LOG_SIZE, REDACTED, FailureLog, recent_failures
from lightmem.llm.scripted import ScriptedLLM
from lightmem.shortterm.extraction import CUT_MARK
from lightmem.tokens import count_tokens
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.memories import MakeMemory, conversation

BIG = {"sensory_tokens": 100_000, "shortterm_tokens": 100_000}
PIXEL = "My cat Pixel only eats salmon flavoured kibble these days."


def scripted(mem: Memory) -> ScriptedLLM:
    assert isinstance(mem.llm, ScriptedLLM)
    return mem.llm


def private_words_absent(message: str) -> bool:
    return not any(w in message for w in ("Pixel", "salmon", "kibble", "Riverside", "nurse"))


def test_a_provider_error_echoing_the_prompt_is_shown_without_it(
    make_memory: MakeMemory, openai_server: FakeOpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    mem = make_memory(
        llm={
            "provider": "openai",
            "options": {
                "base_url": openai_server.base_url,
                "api_key": "sk-test",
                "max_retries": 0,
                "json_schema": "off",
            },
        },
        extraction={"max_retries": 0},
        buffer=BIG,
    )
    mem.add(conversation(1, 4)[0], user_id="alice", session_id="s1")
    openai_server.error(400, f"Invalid 'messages[1].content': '[1] Maya: {PIXEL}' is too long")
    with caplog.at_level(logging.WARNING):
        result = mem.flush(user_id="alice")
    (batch_id,) = result.failed_batches
    (failure,) = mem.usage().failures
    assert failure.where == "extraction" and failure.ref == batch_id
    assert failure.attempts == 1 and failure.at is not None
    assert "HTTP 400" in failure.message and "is too long" in failure.message
    assert REDACTED in failure.message and private_words_absent(failure.message)
    (batch,) = mem.store.list_batches(statuses=("failed",))
    assert batch.last_error == failure.message  # the column holds the scrubbed message too
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("is too long" in w for w in warnings)
    assert all(private_words_absent(w) for w in warnings)


def test_a_validation_error_names_the_field_not_the_input(make_memory: MakeMemory) -> None:
    mem = make_memory(llm="scripted", extraction={"max_retries": 1}, buffer=BIG)
    mem.add(conversation(1, 2)[0], user_id="alice", session_id="s1")
    bad = {"memories": [{"text": "Maya's cat Pixel eats salmon kibble", "sources": "one"}]}
    scripted(mem).enqueue(bad, bad)
    mem.flush(user_id="alice")
    (failure,) = mem.usage().failures
    assert "ExtractionError" in failure.message and "after 2 attempt(s)" in failure.message
    assert "memories.0.sources" in failure.message
    assert private_words_absent(failure.message)


def test_the_scripted_llm_quoting_the_prompt_is_scrubbed(make_memory: MakeMemory) -> None:
    mem = make_memory(llm="scripted", extraction={"max_retries": 0}, buffer=BIG)
    mem.add(conversation(1, 4)[0], user_id="alice", session_id="s1")
    mem.flush(user_id="alice")  # nothing queued: its error quotes the last message
    (failure,) = mem.usage().failures
    assert "queue is empty" in failure.message
    assert private_words_absent(failure.message) and len(failure.message) <= 300


def test_a_retried_batch_is_one_line_with_its_attempts(make_memory: MakeMemory) -> None:
    mem = make_memory(llm="scripted", extraction={"max_retries": 0}, buffer=BIG)
    mem.add(conversation(1, 2)[0], user_id="alice", session_id="s1")
    scripted(mem).enqueue(ProviderError("HTTP 503: busy"), ProviderError("HTTP 502: gateway"))
    mem.flush(user_id="alice")
    mem.flush(user_id="alice")
    (failure,) = mem.usage().failures
    assert failure.attempts == 2 and "gateway" in failure.message


def test_a_background_failure_is_kept_for_other_processes(
    tmp_path: Path, openai_server: FakeOpenAIServer
) -> None:
    config: dict[str, Any] = {
        "embedder": {
            "provider": "openai",
            "options": {"base_url": openai_server.base_url, "dim": 8, "max_retries": 0},
        },
        "llm": "none",
        "worker": {"background": True},
    }
    openai_server.error(500, f"cannot embed 'Maya: {PIXEL}'", endpoint="embeddings")
    with Memory(tmp_path / "store", config=config) as mem:
        mem.add(PIXEL, user_id="alice")
        assert mem.wait(30)
    with Memory(tmp_path / "store", config={**config, "worker": {"background": False}}) as again:
        (failure,) = again.usage().failures
    assert failure.where == "worker" and failure.ref is None and failure.at is not None
    assert "HTTP 500" in failure.message and private_words_absent(failure.message)


def test_the_failure_log_is_bounded_and_newest_first(make_memory: MakeMemory) -> None:
    mem = make_memory()
    log = FailureLog(mem.store)
    for i in range(LOG_SIZE + 5):
        log.record("worker", f"failure {i}")
    shown = recent_failures(mem.store)
    assert [f.message for f in shown] == [f"failure {i}" for i in range(LOG_SIZE + 4, 4, -1)]
    assert len(log.entries()) == LOG_SIZE


def test_an_unreadable_failure_log_restarts_empty(make_memory: MakeMemory) -> None:
    mem = make_memory()
    mem.store.set_meta("failures", "{not json")
    assert mem.usage().failures == []
    FailureLog(mem.store).record("worker", "boom")
    assert [f.message for f in mem.usage().failures] == ["boom"]


def test_a_5mb_turn_is_cut_for_the_prompt_only(make_memory: MakeMemory) -> None:
    mem = make_memory(llm="scripted", buffer={**BIG, "max_batch_tokens": 8000})
    rng = random.Random(5)
    vocab = ["salmon", "harbour", "lantern", "meadow", "copper", "violin", "orchard", "tide"]
    huge = " ".join(rng.choice(vocab) for _ in range(800_000))[: 5 * 1024 * 1024]
    assert len(huge) == 5 * 1024 * 1024
    llm = scripted(mem).respond_with(
        lambda messages, schema: {"memories": [{"text": "Maya talks a lot.", "sources": [1]}]}
    )
    mem.add(
        [{"role": "user", "name": "Maya", "content": c} for c in ("Listen to this:", huge, "Done")],
        user_id="alice",
    )
    mem.flush(user_id="alice")
    assert mem.store.list_batches(statuses=("pending", "failed")) == []
    prompts = [c.messages[-1].content for c in llm.calls]
    # max_batch_tokens bounds the turns' tokens; headers and "[n] Maya: " come on top
    assert all(count_tokens(p) <= 8000 + 50 for p in prompts)
    assert sum(CUT_MARK in p for p in prompts) == 1
    assert all(c.max_tokens is not None and c.max_tokens <= 4096 for c in llm.calls)
    stored = [t for t in mem.turns(user_id="alice") if len(t.content) > 1000]
    assert [len(t.content) for t in stored] == [len(huge)]  # the original is kept
    assert any(e.sources == [stored[0].id] for e in mem.get_all(user_id="alice"))


def test_a_small_context_bounds_prompt_and_reply_together(make_memory: MakeMemory) -> None:
    class SmallContext(ScriptedLLM):
        @property
        def context_tokens(self) -> int:
            return 2048

    from lightmem.shortterm.extraction import LLMExtractor

    mem = make_memory(llm="scripted", buffer=BIG)
    mem.add([{"role": "user", "content": "word " * 6000}], user_id="alice")
    mem.flush(user_id="alice", extract=False)
    turns = mem.turns(user_id="alice")
    llm = SmallContext().enqueue({"memories": []})
    LLMExtractor(llm, max_retries=0, max_batch_tokens=8000).extract(turns)
    call = llm.calls[0]
    sent = sum(count_tokens(m.content) for m in call.messages)
    assert call.max_tokens is not None and sent + call.max_tokens <= 2048


def test_the_local_model_reports_its_context() -> None:
    from lightmem.llm.local import LocalLLM, LocalOptions

    assert LocalLLM(LocalOptions(n_ctx=4096)).context_tokens == 4096


def test_a_batch_that_fits_is_sent_whole(make_memory: MakeMemory) -> None:
    mem = make_memory(llm="scripted", buffer={**BIG, "max_batch_tokens": 400})
    llm = scripted(mem).enqueue({"memories": []})
    mem.add([{"role": "user", "content": f"turn {i} about cats"} for i in range(60)], user_id="a")
    mem.flush(user_id="a")
    (call,) = llm.calls
    assert CUT_MARK not in call.messages[-1].content
    assert "[60] user: turn 59 about cats" in call.messages[-1].content
