"""The OpenAI-compatible embedder against a real local HTTP server (no network)."""

from __future__ import annotations

import numpy as np
import pytest

from lightmem.embedders.base import Embedder
from lightmem.embedders.openai import OpenAIEmbedder, OpenAIEmbedderOptions
from lightmem.errors import ProviderError
from lightmem.registry import registry
from tests.fakes.openai_server import FakeOpenAIServer, FakeResponse, fake_embedding

KEY = "sk-embed-secret-0123456789"


def make(server: FakeOpenAIServer, **options: object) -> OpenAIEmbedder:
    opts: dict[str, object] = {
        "base_url": server.base_url,
        "api_key": KEY,
        "model": "emb-1",
        "backoff": 0.0,
    }
    opts.update(options)
    return OpenAIEmbedder(OpenAIEmbedderOptions.model_validate(opts))


def expected(texts: list[str], dim: int = 8) -> np.ndarray:
    return np.array([fake_embedding(t, dim) for t in texts], dtype=np.float32)


def test_embeds_and_sends_the_request(openai_server: FakeOpenAIServer) -> None:
    e = make(openai_server)
    out = e.embed(["alpha", "beta"])
    assert out.shape == (2, 8) and out.dtype == np.float32
    assert np.allclose(out, expected(["alpha", "beta"]), atol=1e-6)
    (request,) = openai_server.embedding_requests
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.body == {"model": "emb-1", "input": ["alpha", "beta"]}  # no "dimensions"


def test_rows_are_sorted_by_index(openai_server: FakeOpenAIServer) -> None:
    texts = ["one", "two", "three"]
    data = [{"index": i, "embedding": fake_embedding(t, 8)} for i, t in enumerate(texts)]
    shuffled = {"data": [data[2], data[0], data[1]]}
    openai_server.enqueue(FakeResponse(200, shuffled), endpoint="embeddings")
    out = make(openai_server).embed(texts)
    assert np.allclose(out, expected(texts), atol=1e-6)


def test_rows_are_normalised(openai_server: FakeOpenAIServer) -> None:
    body = {"data": [{"index": 0, "embedding": [3.0, 4.0]}]}
    openai_server.enqueue(FakeResponse(200, body), endpoint="embeddings")
    assert np.allclose(make(openai_server).embed(["x"]), [[0.6, 0.8]])


def test_batches_of_128(openai_server: FakeOpenAIServer) -> None:
    texts = [f"text number {i}" for i in range(300)]
    out = make(openai_server).embed(texts)
    sizes = [len(r.body["input"]) for r in openai_server.embedding_requests]
    assert sizes == [128, 128, 44]
    assert np.allclose(out, expected(texts), atol=1e-6)


def test_batch_size_option(openai_server: FakeOpenAIServer) -> None:
    make(openai_server, batch_size=2).embed(["a", "b", "c"])
    assert [len(r.body["input"]) for r in openai_server.embedding_requests] == [2, 1]


def test_429_then_success(openai_server: FakeOpenAIServer) -> None:
    openai_server.error(429, "rate limited", headers={"Retry-After": "0"}, endpoint="embeddings")
    out = make(openai_server).embed(["a"])
    assert np.allclose(out, expected(["a"]), atol=1e-6)
    assert len(openai_server.embedding_requests) == 2


def test_500s_exhausted(openai_server: FakeOpenAIServer) -> None:
    for _ in range(3):
        openai_server.error(500, "upstream exploded", endpoint="embeddings")
    with pytest.raises(ProviderError) as info:
        make(openai_server, max_retries=2).embed(["a"])
    assert "HTTP 500" in str(info.value) and "upstream exploded" in str(info.value)
    assert len(openai_server.embedding_requests) == 3


def test_key_never_in_error_text(openai_server: FakeOpenAIServer) -> None:
    openai_server.error(401, f"Incorrect API key provided: {KEY}", endpoint="embeddings")
    with pytest.raises(ProviderError) as info:
        make(openai_server).embed(["a"])
    assert "HTTP 401" in str(info.value)
    assert KEY not in str(info.value) and KEY not in repr(info.value)


def test_key_never_in_options_dump_or_repr() -> None:
    opts = OpenAIEmbedderOptions.model_validate({"api_key": KEY})
    assert KEY not in repr(opts)
    assert "api_key" not in opts.model_dump(mode="json")


def test_dim_probe_when_not_configured(openai_server: FakeOpenAIServer) -> None:
    e = make(openai_server)
    assert openai_server.embedding_requests == []  # construction sends nothing
    assert e.dim == 8
    assert e.model_id == "openai:emb-1:8"
    (probe,) = openai_server.embedding_requests
    assert probe.body["input"] == ["dimension probe"]


def test_dim_learned_from_first_embed_needs_no_probe(openai_server: FakeOpenAIServer) -> None:
    e = make(openai_server)
    e.embed(["a"])
    assert e.dim == 8
    assert len(openai_server.embedding_requests) == 1


def test_configured_dim_is_sent_and_checked(openai_server: FakeOpenAIServer) -> None:
    e = make(openai_server, dim=16)
    assert e.model_id == "openai:emb-1:16"
    assert openai_server.embedding_requests == []  # no probe
    assert e.embed(["a"]).shape == (1, 16)
    assert openai_server.embedding_requests[0].body["dimensions"] == 16


def test_wrong_dimension_from_server(openai_server: FakeOpenAIServer) -> None:
    body = {"data": [{"index": 0, "embedding": [0.1] * 5}]}
    openai_server.enqueue(FakeResponse(200, body), endpoint="embeddings")
    with pytest.raises(ProviderError, match="returned 5-dim vectors, expected 16"):
        make(openai_server, dim=16).embed(["a"])


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"data": []}, "expected 1 embeddings, got 0"),
        ({"nothing": 1}, "expected 1 embeddings, got no"),
        ({"data": [{"index": 0}]}, "malformed"),
        ({"data": [{"index": 0, "embedding": "AAAA"}]}, "malformed"),
        ({"data": [{"index": 3, "embedding": [1.0]}]}, "not 0..0"),
    ],
)
def test_malformed_responses(openai_server: FakeOpenAIServer, body: object, match: str) -> None:
    openai_server.enqueue(FakeResponse(200, body), endpoint="embeddings")
    with pytest.raises(ProviderError, match=match):
        make(openai_server).embed(["a"])


def test_empty_strings_are_sent_as_a_space(openai_server: FakeOpenAIServer) -> None:
    out = make(openai_server).embed(["", "x"])
    assert openai_server.embedding_requests[0].body["input"] == [" ", "x"]
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0)


def test_empty_batch_with_known_dim_sends_nothing(openai_server: FakeOpenAIServer) -> None:
    assert make(openai_server, dim=4).embed([]).shape == (0, 4)
    assert openai_server.embedding_requests == []


def test_environment_defaults(
    openai_server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", openai_server.base_url + "/")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    monkeypatch.setenv("LIGHTMEM_EMBEDDER_MODEL", "env-model")
    e = OpenAIEmbedder()
    e.embed(["a"])
    (request,) = openai_server.embedding_requests
    assert request.headers["authorization"] == "Bearer sk-from-env"
    assert request.body["model"] == "env-model"
    assert e.model_id == "openai:env-model:8"


def test_plain_defaults() -> None:
    opts = OpenAIEmbedderOptions()
    assert opts.model == "text-embedding-3-small"
    assert opts.base_url == "https://api.openai.com/v1"
    assert (opts.batch_size, opts.max_retries, opts.backoff, opts.dim) == (128, 4, 1.0, None)


def test_no_key_sends_no_authorization(openai_server: FakeOpenAIServer) -> None:
    make(openai_server, api_key=None).embed(["a"])
    assert "authorization" not in openai_server.embedding_requests[0].headers


def test_close_and_reuse(openai_server: FakeOpenAIServer) -> None:
    e = make(openai_server)
    e.embed(["a"])
    e.close()
    e.close()
    assert e.embed(["b"]).shape == (1, 8)  # a new client is opened on demand


def test_registered() -> None:
    assert registry.resolve("embedder", "openai", Embedder) is OpenAIEmbedder
