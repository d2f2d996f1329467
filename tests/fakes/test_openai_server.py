"""The fake server itself, so the tests that lean on it can trust it."""

from __future__ import annotations

import base64
import math
import struct

import httpx

from tests.fakes.openai_server import EMBEDDINGS_PATH, FakeOpenAIServer, fake_embedding


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
