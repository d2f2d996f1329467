"""Any OpenAI-compatible ``/chat/completions`` endpoint (OpenAI, vLLM, llama-server, Ollama,
LM Studio, ...) over httpx.

Requests go through :func:`lightmem.http.post_json`: 408, 429, 5xx, timeouts and refused
connections are retried with exponential backoff and jitter, honouring ``Retry-After``; other
4xx answers raise :class:`~lightmem.http.EndpointError` (a :class:`ProviderError`) at once
with the status and the server's message (never the prompt, never the key). TLS verification
is always on. A reasoning model's ``<think>`` text is returned as is; the structured-output
path strips it.

When a schema is given, ``json_schema="auto"`` first sends a JSON-schema ``response_format``;
an endpoint that rejects it (a 400 naming ``response_format``/``json_schema``) is asked again
with ``{"type": "json_object"}``, then with no format at all, and the fallback is remembered
for later calls. The structured-output path validates the reply either way.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import httpx
from pydantic import BaseModel, Field, SecretStr, model_validator

from lightmem.errors import ProviderError
from lightmem.http import (
    EndpointError,
    check_base_url,
    connect_timeout,
    display_url,
    post_json,
    transport_failure,
)
from lightmem.llm.base import LLM, ChatMessage, Completion, LLMOptions
from lightmem.tokens import count_tokens

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4o-mini"
DEFAULT_BASE_URL = "https://api.openai.com/v1"
#: how long the reachability check waits (a completion's own timeout is much longer)
PROBE_SECONDS = 3.0

# The response formats tried in order under json_schema="auto".
_FORMATS: tuple[str, ...] = ("json_schema", "json_object", "none")
_FORMAT_WORDS = ("response_format", "json_schema", "json_object", "json schema")


class OpenAIOptions(LLMOptions):
    model: str | None = Field(None, description="default: $LIGHTMEM_LLM_MODEL or gpt-4o-mini")
    base_url: str | None = Field(None, description="default: $OPENAI_BASE_URL or OpenAI's")
    # Resolved from $OPENAI_API_KEY when the client is built, not here, so a saved config
    # never holds the key. Local endpoints may need none.
    api_key: SecretStr | None = None
    timeout: float = Field(60.0, gt=0)
    max_retries: int = Field(4, ge=0, le=20)
    backoff: float = Field(1.0, ge=0, description="base delay in seconds before a retry")
    temperature: float = Field(0.0, ge=0, le=2)
    json_schema: Literal["auto", "on", "off"] = "auto"
    extra_headers: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _defaults_from_env(self) -> OpenAIOptions:
        if self.model is None:
            self.model = os.environ.get("LIGHTMEM_LLM_MODEL") or DEFAULT_MODEL
        if self.base_url is None:
            from_env = os.environ.get("OPENAI_BASE_URL")
            self.base_url = check_base_url(from_env, "OPENAI_BASE_URL") if from_env else None
            self.base_url = self.base_url or DEFAULT_BASE_URL
        else:
            check_base_url(self.base_url, "base_url")
        return self


class OpenAILLM(LLM):
    mode: ClassVar[str] = "openai"
    Options: ClassVar[type[BaseModel]] = OpenAIOptions
    auto_priority: ClassVar[int | None] = 100

    @classmethod
    def auto_available(cls, options: Mapping[str, Any], environ: Mapping[str, str]) -> bool:
        """An endpoint is configured: in the options or ``OPENAI_BASE_URL`` / ``_API_KEY``."""
        return bool(
            options.get("base_url")
            or options.get("api_key")
            or environ.get("OPENAI_BASE_URL")
            or environ.get("OPENAI_API_KEY")
        )

    def __init__(self, options: BaseModel | None = None) -> None:
        super().__init__(options)
        self._opts: OpenAIOptions = self.options  # type: ignore[assignment]
        env_key = os.environ.get("OPENAI_API_KEY")
        self._key = self._opts.api_key or (SecretStr(env_key) if env_key else None)
        self._headers = {"Accept": "application/json", **self._opts.extra_headers}
        self._url = str(self._opts.base_url).rstrip("/") + "/chat/completions"
        self._client = httpx.Client(timeout=connect_timeout(self._opts.timeout), verify=True)
        self._format_lock = threading.Lock()
        self._format = 0 if self._opts.json_schema != "off" else len(_FORMATS) - 1

    @property
    def model_name(self) -> str:
        return str(self._opts.model)

    @property
    def response_format(self) -> str:
        """The response format sent with a schema now: json_schema, json_object or none."""
        return _FORMATS[self._format]

    def close(self) -> None:
        self._client.close()

    def unreachable(self) -> str | None:
        """GET the endpoint's ``/models`` (no key sent) with a short timeout: any answer,
        an error status included, means it is reachable; only a connection that fails
        outright (refused, an unknown host) counts, through the same client (so a proxy and
        TLS are as for a completion). A slow one is left to the completion call to judge."""
        url = str(self._opts.base_url).rstrip("/") + "/models"
        try:
            self._client.get(url, timeout=httpx.Timeout(PROBE_SECONDS)).close()
        except httpx.ConnectError as exc:
            return f"GET {display_url(url)} {transport_failure(exc, [])} (a quick check)"
        except httpx.HTTPError:
            return None  # slow or odd: the completion call will tell
        return None

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        payload: dict[str, Any] = {
            "model": self._opts.model,
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": self._opts.temperature,
        }
        if max_tokens is not None:
            payload["max_tokens"] = max_tokens
        start = time.perf_counter()
        while True:
            level = self._format
            fmt = _response_format(_FORMATS[level], schema) if schema is not None else None
            if fmt is None:
                payload.pop("response_format", None)
            else:
                payload["response_format"] = fmt
            try:
                data = post_json(
                    self._client,
                    self._url,
                    payload,
                    headers=self._request_headers(),
                    max_retries=self._opts.max_retries,
                    backoff=self._opts.backoff,
                )
                break
            except EndpointError as exc:
                if fmt is None or not self._can_fall_back(exc, level):
                    raise
        return self._completion(data, messages, time.perf_counter() - start)

    def _request_headers(self) -> dict[str, str]:
        """Built per request (the key stays a SecretStr on the instance); post_json scrubs
        the key from anything the server echoes back."""
        if self._key is None:
            return self._headers
        return {**self._headers, "Authorization": f"Bearer {self._key.get_secret_value()}"}

    def _can_fall_back(self, exc: EndpointError, level: int) -> bool:
        """After a 400 about the response format, step down one format (auto mode only)."""
        if self._opts.json_schema != "auto" or exc.status != 400:
            return False
        if not any(word in exc.server_message.lower() for word in _FORMAT_WORDS):
            return False
        with self._format_lock:
            if self._format == level and level < len(_FORMATS) - 1:
                self._format = level + 1
                log.warning(
                    "%s rejected response_format %s; falling back to %s",
                    self._opts.base_url,
                    _FORMATS[level],
                    _FORMATS[level + 1],
                )
            return self._format > level

    def _completion(
        self, data: dict[str, Any], messages: list[ChatMessage], seconds: float
    ) -> Completion:
        try:
            message = data["choices"][0]["message"]
            text = message.get("content") or ""
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError(
                f"LLM endpoint {self._opts.base_url} returned no choices[0].message "
                f"(keys: {sorted(data)[:10]})"
            ) from None
        if not isinstance(text, str):
            raise ProviderError(f"LLM endpoint returned non-text content ({type(text).__name__})")
        usage = data.get("usage")
        if not isinstance(usage, dict):
            usage = {}
        tokens_in = usage.get("prompt_tokens")
        tokens_out = usage.get("completion_tokens")
        if not isinstance(tokens_in, int):
            tokens_in = sum(count_tokens(m.content) for m in messages)
        if not isinstance(tokens_out, int):
            tokens_out = count_tokens(text)
        return Completion(
            text=text,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            seconds=seconds,
            model=str(data.get("model") or self._opts.model),
        )


def _response_format(kind: str, schema: dict[str, Any]) -> dict[str, Any] | None:
    if kind == "json_schema":
        name = str(schema.get("title") or "output")
        name = "".join(c if c.isalnum() or c in "_-" else "_" for c in name)[:64]
        return {
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": False},
        }
    if kind == "json_object":
        return {"type": "json_object"}
    return None
