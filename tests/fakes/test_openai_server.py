"""The fake server itself, so the tests that lean on it can trust it."""

from __future__ import annotations

import base64
import json
import math
import struct

import httpx
import pytest

from tests.fakes.openai_server import (
    EMBEDDINGS_PATH,
    FakeOpenAIServer,
    FakeResponse,
    chat_body,
    fake_embedding,
)


def test_embeddings_are_deterministic_unit_vectors(openai_server: FakeOpenAIServer) -> None:
    openai_server.embedding_dim = 16
    body = {"model": "e", "input": ["alpha", "beta", "alpha"]}
    data = httpx.post(f"{openai_server.base_url}/embeddings", json=body).json()
    vectors = [row["embedding"] for row in data["data"]]
    assert [row["index"] for row in data["data"]] == [0, 1, 2]
    assert vectors[0] == vectors[2] == fake_embedding("alpha", 16) != vectors[1]
    assert math.isclose(sum(v * v for v in vectors[1]), 1.0)
    assert data["usage"]["prompt_tokens"] == 3
    assert openai_server.embedding_requests[0].body == body
    assert openai_server.embedding_requests[0].path == EMBEDDINGS_PATH


def test_embeddings_dimensions_and_base64(openai_server: FakeOpenAIServer) -> None:
    body = {"input": "x", "dimensions": 4, "encoding_format": "base64"}
    row = httpx.post(f"{openai_server.base_url}/embeddings", json=body).json()["data"][0]
    decoded = struct.unpack("<4f", base64.b64decode(row["embedding"]))
    expected = fake_embedding("x", 4)
    assert all(math.isclose(a, b, rel_tol=1e-6) for a, b in zip(decoded, expected, strict=True))


def test_scripted_embedding_error_then_default(openai_server: FakeOpenAIServer) -> None:
    openai_server.error(429, "slow down", endpoint="embeddings")
    url = f"{openai_server.base_url}/embeddings"
    assert httpx.post(url, json={"input": "x"}).status_code == 429
    assert httpx.post(url, json={"input": "x"}).status_code == 200


def test_empty_chat_queue_is_loud_unless_a_responder_is_set(
    openai_server: FakeOpenAIServer,
) -> None:
    url = f"{openai_server.base_url}/chat/completions"
    first = httpx.post(url, json={"messages": []})
    assert first.status_code == 418 and "queue is empty" in first.text
    openai_server.chat_responder = lambda body: f"{len(body['messages'])} messages"
    reply = httpx.post(url, json={"messages": [{"role": "user", "content": "hi"}]}).json()
    assert reply["choices"][0]["message"]["content"] == "1 messages"


def test_a_streamed_completion_is_server_sent_events(openai_server: FakeOpenAIServer) -> None:
    openai_server.reply("one two three four five")
    url = f"{openai_server.base_url}/chat/completions"
    with httpx.stream("POST", url, json={"messages": [], "stream": True}) as response:
        assert response.headers["content-type"] == "text/event-stream"
        lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert text == "one two three four five"
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


def test_a_stream_can_break(openai_server: FakeOpenAIServer) -> None:
    openai_server.enqueue(FakeResponse(200, chat_body("a b c d e f"), break_after=2))
    url = f"{openai_server.base_url}/chat/completions"
    with pytest.raises(httpx.RemoteProtocolError):  # noqa: SIM117 - the error is in the read
        with httpx.stream("POST", url, json={"messages": [], "stream": True}) as response:
            for _ in response.iter_bytes():
                pass
