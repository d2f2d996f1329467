from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from lightmem.errors import ProviderError
from lightmem.llm.base import LLM, ChatMessage, Completion
from lightmem.llm.none import NoLLM
from lightmem.llm.scripted import ScriptedLLM, ScriptedOptions
from lightmem.registry import registry

USER = [ChatMessage(role="user", content="hello there")]


def test_replies_in_order_and_calls_recorded() -> None:
    llm = ScriptedLLM().enqueue("plain", {"a": 1}, [1, 2])
    schema = {"type": "object"}
    assert llm.complete(USER).text == "plain"
    assert json.loads(llm.complete(USER, schema=schema).text) == {"a": 1}
    assert json.loads(llm.complete(USER, max_tokens=7).text) == [1, 2]
    assert [c.schema for c in llm.calls] == [None, schema, None]
    assert llm.calls[2].max_tokens == 7
    assert llm.calls[0].messages == USER
    assert llm.pending == 0


def test_usage_is_counted() -> None:
    out = ScriptedLLM().enqueue("four words right here").complete(USER)
    assert out.tokens_in > 0 and out.tokens_out > 0
    assert out.model == "scripted"


def test_exception_reply_is_raised_when_reached() -> None:
    llm = ScriptedLLM().enqueue(ProviderError("endpoint down"), "after")
    with pytest.raises(ProviderError, match="endpoint down"):
        llm.complete(USER)
    assert llm.complete(USER).text == "after"
    assert len(llm.calls) == 2


def test_completion_reply_is_returned_as_is() -> None:
    done = Completion(text="x", tokens_in=100, tokens_out=7, seconds=0.5, model="m")
    assert ScriptedLLM().enqueue(done).complete(USER) is done


def test_empty_queue_fails_loudly() -> None:
    llm = ScriptedLLM().enqueue("one")
    llm.complete(USER)
    with pytest.raises(ProviderError, match="scripted LLM queue is empty"):
        llm.complete(USER)


def test_bad_reply_type_is_rejected_at_enqueue() -> None:
    with pytest.raises(TypeError, match="scripted reply"):
        ScriptedLLM().enqueue(42)  # type: ignore[arg-type]


def test_responder_is_used_when_queue_is_empty() -> None:
    seen = []

    def respond(messages: list[ChatMessage], schema: dict | None) -> dict:
        seen.append(schema)
        return {"echo": messages[-1].content}

    llm = ScriptedLLM().enqueue("queued first").respond_with(respond)
    assert llm.complete(USER).text == "queued first"
    assert json.loads(llm.complete(USER, schema={"type": "object"}).text) == {"echo": "hello there"}
    assert seen == [{"type": "object"}]


def test_options_preload_replies_and_model() -> None:
    llm = ScriptedLLM(ScriptedOptions(replies=["a", {"b": 2}], model="fake-1"))
    assert llm.complete(USER).text == "a"
    assert llm.complete(USER).model == "fake-1"
    assert llm.model_name == "fake-1"


def test_thread_safe_under_a_pool() -> None:
    llm = ScriptedLLM().enqueue(*[str(i) for i in range(200)])
    with ThreadPoolExecutor(8) as pool:
        texts = list(pool.map(lambda _: llm.complete(USER).text, range(200)))
    assert sorted(texts, key=int) == [str(i) for i in range(200)]
    assert len(llm.calls) == 200


def test_registered_through_entry_points() -> None:
    assert registry.resolve("llm", "scripted", LLM) is ScriptedLLM
    assert registry.resolve("llm", "none", LLM) is NoLLM


def test_no_llm_is_unavailable_and_loud() -> None:
    llm = NoLLM()
    assert llm.available is False
    with pytest.raises(ProviderError, match="no LLM configured"):
        llm.complete(USER)
