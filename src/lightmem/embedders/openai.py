"""Embeddings from any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint.

Works with OpenAI itself and with local servers that speak the same protocol (vLLM,
llama.cpp server, Ollama, LM Studio). Options default from the environment:
``LIGHTMEM_EMBEDDER_MODEL`` (else ``text-embedding-3-small``), ``OPENAI_BASE_URL`` (else
``https://api.openai.com/v1``) and ``OPENAI_API_KEY`` (sent as a bearer token when set; never
written to the saved config, never shown in an error).

The vector size must be known before a store opens (it is part of :attr:`model_id`). Set
``dim`` to fix it: it is then sent as ``dimensions`` (models that can shorten their vectors,
such as text-embedding-3-*, honour it) and every response is checked against it. Leave it
unset and reading :attr:`OpenAIEmbedder.dim` embeds the text ``"dimension probe"`` once to
learn it; the request then carries no ``dimensions`` field.

Retries and error translation are :func:`lightmem.http.post_json`'s. Empty texts are sent
as a single space, because the OpenAI API rejects empty input strings.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
from pydantic import Field, SecretStr, field_validator

from lightmem.embedders.base import Embedder, EmbedderOptions, Vectors, normalize
from lightmem.errors import ProviderError
from lightmem.http import check_base_url, connect_timeout, post_json

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "text-embedding-3-small"
PROBE_TEXT = "dimension probe"


def _env(name: str, default: str) -> Callable[[], str]:
    return lambda: os.environ.get(name) or default


class OpenAIEmbedderOptions(EmbedderOptions):
    model: str = Field(default_factory=_env("LIGHTMEM_EMBEDDER_MODEL", DEFAULT_MODEL))
    base_url: str = Field(default_factory=_env("OPENAI_BASE_URL", DEFAULT_BASE_URL))
    # Excluded from dumps so the saved config never holds the key; None reads OPENAI_API_KEY.
    api_key: SecretStr | None = Field(default=None, exclude=True)
    dim: int | None = Field(default=None, ge=1, description="None: learned by one probe request")
    batch_size: int = Field(default=128, ge=1, le=2048)
    timeout: float = Field(default=60.0, gt=0, description="seconds per request")
    max_retries: int = Field(default=4, ge=0, le=20)
    backoff: float = Field(
        default=1.0, ge=0, description="first retry wait in seconds, then doubled"
    )

    @field_validator("base_url")
    @classmethod
    def _a_url(cls, v: str) -> str:
        return check_base_url(v, "base_url (or OPENAI_BASE_URL)")


class OpenAIEmbedder(Embedder):
    Options = OpenAIEmbedderOptions

    def __init__(self, options: OpenAIEmbedderOptions | None = None) -> None:
        self.opts = options if options is not None else OpenAIEmbedderOptions()
        super().__init__(self.opts)
        key = self.opts.api_key or SecretStr(os.environ.get("OPENAI_API_KEY", ""))
        self._api_key = key
        self._url = self.opts.base_url.rstrip("/") + "/embeddings"
        self._dim = self.opts.dim
        self._client: httpx.Client | None = None
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        """The configured ``dim``, else learned from the first response (probing if none yet)."""
        if self._dim is None:
            self.embed([PROBE_TEXT])
        assert self._dim is not None  # set by embed, or embed raised
        return self._dim

    @property
    def model_id(self) -> str:
        return f"openai:{self.opts.model}:{self.dim}"

    def embed(self, texts: list[str]) -> Vectors:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        size = self.opts.batch_size
        parts = [self._embed_batch(texts[i : i + size]) for i in range(0, len(texts), size)]
        return normalize(np.concatenate(parts))

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        payload: dict[str, Any] = {"model": self.opts.model, "input": [t or " " for t in texts]}
        if self.opts.dim is not None:
            payload["dimensions"] = self.opts.dim
        headers: dict[str, str] = {}
        if self._api_key.get_secret_value():
            headers["Authorization"] = f"Bearer {self._api_key.get_secret_value()}"
        body = post_json(
            self._http(),
            self._url,
            payload,
            headers=headers,
            max_retries=self.opts.max_retries,
            backoff=self.opts.backoff,
            timeout=self.opts.timeout,
        )
        vectors = self._parse(body, len(texts))
        if self._dim is None:
            self._dim = vectors.shape[1]
        elif vectors.shape[1] != self._dim:
            raise ProviderError(
                f"embedding model {self.opts.model!r} returned {vectors.shape[1]}-dim vectors, "
                f"expected {self._dim} (set by the embedder option 'dim' or the first response)"
            )
        return vectors

    def _parse(self, body: dict[str, Any], expected: int) -> np.ndarray:
        where = f"embeddings response from {self.opts.model!r}"
        data = body.get("data")
        if not isinstance(data, list) or len(data) != expected:
            got = len(data) if isinstance(data, list) else "no"
            raise ProviderError(f"{where}: expected {expected} embeddings, got {got}")
        try:
            rows = sorted(data, key=lambda row: int(row["index"]))
            indices = [int(row["index"]) for row in rows]
            matrix = np.array([row["embedding"] for row in rows], dtype=np.float32)
        except (KeyError, TypeError, ValueError) as exc:
            raise ProviderError(f"{where}: malformed data rows ({exc!r})") from exc
        if indices != list(range(expected)):
            raise ProviderError(f"{where}: indices {indices[:10]} are not 0..{expected - 1}")
        if matrix.ndim != 2 or matrix.shape[1] == 0 or not np.isfinite(matrix).all():
            raise ProviderError(f"{where}: embeddings are not equal-length finite vectors")
        return matrix

    def _http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                # TLS verification stays on
                self._client = httpx.Client(timeout=connect_timeout(self.opts.timeout))
            return self._client
