"""The OpenAI-compatible backend against a real local HTTP server (no network)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import closing

import pytest

from lightmem.errors import ProviderError
from lightmem.llm.base import LLM, ChatMessage
from lightmem.llm.openai import OpenAILLM, OpenAIOptions
from lightmem.registry import registry
from tests.fakes.openai_server import FakeOpenAIServer, FakeResponse

KEY = "sk-test-secret-0123456789"
USER = [ChatMessage(role="system", content="be brief"), ChatMessage(role="user", content="hi")]
SCHEMA = {"title": "Facts", "type": "object", "properties": {"facts": {"type": "array"}}}


Make = Callable[..., OpenAILLM]


@pytest.fixture
def make(openai_server: FakeOpenAIServer) -> Iterator[Make]:
    """Build OpenAILLMs against the fake server (fast backoff); closed after the test."""
    built: list[OpenAILLM] = []

    def build(**options: object) -> OpenAILLM:
        opts = {
            "base_url": openai_server.base_url,
            "api_key": KEY,
            "backoff": 0.01,
            "model": "m1",
            **options,
        }
        built.append(OpenAILLM(OpenAIOptions.model_validate(opts)))
        return built[-1]

    yield build
    for llm in built:
        llm.close()


def test_happy_path_with_usage(openai_server: FakeOpenAIServer, make: Make) -> None:
    openai_server.reply("hello!", usage=(21, 4))
    out = make(temperature=0.3).complete(USER, max_tokens=50)
    assert (out.text, out.tokens_in, out.tokens_out) == ("hello!", 21, 4)
    assert out.model == "fake-model" and out.seconds >= 0
    (req,) = openai_server.chat_requests
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body["model"] == "m1"
    assert req.body["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert req.body["max_tokens"] == 50 and req.body["temperature"] == 0.3
    assert "response_format" not in req.body


def test_usage_falls_back_to_counting(openai_server: FakeOpenAIServer, make: Make) -> None:
    openai_server.reply("three little words", usage=None)
    out = make().complete(USER)
    assert out.tokens_in > 0 and out.tokens_out > 0


def test_null_content_is_empty_text(openai_server: FakeOpenAIServer, make: Make) -> None:
    openai_server.reply(None)
    assert make().complete(USER).text == ""


def test_think_text_is_left_in(openai_server: FakeOpenAIServer, make: Make) -> None:
    openai_server.reply("<think>hmm</think>{}")
    assert make().complete(USER).text == "<think>hmm</think>{}"


def test_json_schema_is_sent(openai_server: FakeOpenAIServer, make: Make) -> None:
    openai_server.reply('{"facts": []}')
    make().complete(USER, schema=SCHEMA)
    fmt = openai_server.chat_requests[0].body["response_format"]
    assert fmt == {
        "type": "json_schema",
        "json_schema": {"name": "Facts", "schema": SCHEMA, "strict": False},
    }


def test_json_schema_off_sends_no_format(openai_server: FakeOpenAIServer, make: Make) -> None:
    openai_server.reply("{}")
    make(json_schema="off").complete(USER, schema=SCHEMA)
    assert "response_format" not in openai_server.chat_requests[0].body


def test_extra_headers_are_sent(openai_server: FakeOpenAIServer, make: Make) -> None:
    openai_server.reply("ok")
    make(extra_headers={"X-Tenant": "t1"}).complete(USER)
    assert openai_server.chat_requests[0].headers["x-tenant"] == "t1"


def test_429_with_retry_after_then_success(openai_server: FakeOpenAIServer, make: Make) -> None:
    openai_server.error(429, "rate limited", headers={"Retry-After": "0.3"})
    openai_server.reply("made it")
    start = time.perf_counter()
    out = make(backoff=0.0).complete(USER)
    assert out.text == "made it"
    assert time.perf_counter() - start >= 0.3  # the server's Retry-After, not the backoff
    assert len(openai_server.chat_requests) == 2


def test_500_until_retries_run_out(openai_server: FakeOpenAIServer, make: Make) -> None:
    for _ in range(4):
        openai_server.error(500, "boom")
    with pytest.raises(ProviderError, match=r"HTTP 500 after 3 attempt\(s\): boom"):
        make(max_retries=2).complete(USER)
    assert len(openai_server.chat_requests) == 3
    assert openai_server.pending() == 1


def test_400_on_response_format_falls_back_and_remembers(
    openai_server: FakeOpenAIServer, make: Make
) -> None:
    openai_server.error(400, "Invalid parameter: 'response_format' of type 'json_schema'")
    openai_server.error(400, "response_format json_object is not supported by this model")
    openai_server.reply('{"facts": []}')
    openai_server.reply('{"facts": [1]}')
    llm = make()
    assert llm.complete(USER, schema=SCHEMA).text == '{"facts": []}'
    assert llm.response_format == "none"
    assert llm.complete(USER, schema=SCHEMA).text == '{"facts": [1]}'
    sent = [r.body.get("response_format", {}).get("type") for r in openai_server.chat_requests]
    assert sent == ["json_schema", "json_object", None, None]


def test_400_on_response_format_in_strict_mode_is_an_error(
    openai_server: FakeOpenAIServer, make: Make
) -> None:
    openai_server.error(400, "response_format json_schema is not supported")
    with pytest.raises(ProviderError, match="HTTP 400"):
        make(json_schema="on").complete(USER, schema=SCHEMA)
    assert len(openai_server.chat_requests) == 1


def test_other_400_does_not_fall_back(openai_server: FakeOpenAIServer, make: Make) -> None:
    openai_server.error(400, "maximum context length exceeded")
    llm = make()
    with pytest.raises(ProviderError, match="maximum context length"):
        llm.complete(USER, schema=SCHEMA)
    assert llm.response_format == "json_schema"


def test_401_is_not_retried_and_hides_the_key(openai_server: FakeOpenAIServer, make: Make) -> None:
    openai_server.error(401, f"Incorrect API key provided: {KEY}")
    with pytest.raises(ProviderError) as info:
        make().complete(USER)
    assert "401" in str(info.value) and "Incorrect API key" in str(info.value)
    assert KEY not in str(info.value)
    assert "hi" not in str(info.value).split(":", 2)[-1]  # the prompt is not echoed
    assert len(openai_server.chat_requests) == 1


def test_timeout_is_retried_then_raised(openai_server: FakeOpenAIServer, make: Make) -> None:
    openai_server.enqueue(FakeResponse(200, {}, delay=2.0), FakeResponse(200, {}, delay=2.0))
    start = time.perf_counter()
    with pytest.raises(ProviderError, match=r"timed out waiting for the answer \(2 attempts\)"):
        make(timeout=0.2, max_retries=1).complete(USER)
    assert time.perf_counter() - start < 1.5
    assert len(openai_server.chat_requests) == 2


def test_connection_refused_is_a_provider_error() -> None:
    with FakeOpenAIServer() as server:
        url = server.base_url
    llm = OpenAILLM(OpenAIOptions(base_url=url, max_retries=1, backoff=0.0))
    with closing(llm), pytest.raises(ProviderError, match="connection refused"):
        llm.complete(USER)


def test_body_without_choices_is_a_provider_error(
    openai_server: FakeOpenAIServer, make: Make
) -> None:
    openai_server.enqueue(FakeResponse(200, {"object": "chat.completion"}))
    with pytest.raises(ProviderError, match=r"no choices\[0\]\.message"):
        make().complete(USER)


def test_key_never_appears_in_repr_or_str() -> None:
    opts = OpenAIOptions(api_key=KEY)
    for text in (repr(opts), str(opts), str(opts.model_dump()), opts.model_dump_json()):
        assert KEY not in text
    with closing(OpenAILLM(opts)) as llm:
        assert KEY not in repr(llm.options) and KEY not in repr(vars(llm))


def test_defaults_come_from_the_environment(
    openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("LIGHTMEM_LLM_MODEL", "env-model")
    openai_server.reply("ok")
    with closing(OpenAILLM()) as llm:
        assert llm.model_name == "env-model"
        assert llm.options.api_key is None  # type: ignore[attr-defined]  # not copied in
        llm.complete(USER)
    (req,) = openai_server.chat_requests
    assert req.body["model"] == "env-model"
    assert req.headers["authorization"] == "Bearer sk-env"


def test_builtin_defaults_and_no_key() -> None:
    opts = OpenAIOptions()
    assert (opts.model, opts.base_url) == ("gpt-4o-mini", "https://api.openai.com/v1")


def test_no_key_sends_no_authorization(openai_server: FakeOpenAIServer, make: Make) -> None:
    openai_server.reply("ok")
    with closing(OpenAILLM(OpenAIOptions(base_url=openai_server.base_url))) as llm:
        llm.complete(USER)
    assert "authorization" not in openai_server.chat_requests[0].headers


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(ValueError, match="extra"):
        OpenAIOptions.model_validate({"modle": "x"})


def test_registered_through_entry_points() -> None:
    assert registry.resolve("llm", "openai", LLM) is OpenAILLM
