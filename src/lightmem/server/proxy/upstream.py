"""The model server behind the proxy: one ``httpx.AsyncClient`` (TLS verified), the upstream
key from the config or the environment (never the client's), and every failure turned into
an :class:`UpstreamError` that says what failed.

* unreachable, or no connection within ``proxy.connect_timeout_seconds``: 502
* no answer (or no next stream chunk) within ``proxy.timeout_seconds``: 504
* an error answer: the upstream's own status when it refused the request itself (400, 404,
  413, 422, 429), else 502 (401/403: the proxy's upstream key is wrong, not the client's)
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

import httpx

from lightmem.config import ProxySection
from lightmem.errors import ConfigError
from lightmem.http import check_base_url, display_url, scrub_headers, server_message
from lightmem.server.proxy.errors import UpstreamError

#: Upstream statuses the client caused (its request, its rate): passed on as they are.
CLIENT_STATUSES = frozenset({400, 404, 413, 422, 429})


def upstream_key(settings: ProxySection, environ: Mapping[str, str] | None = None) -> str | None:
    """``proxy.options.api_key``, else the variable ``proxy.api_key_env``, else
    ``OPENAI_API_KEY``; None: the upstream gets no ``Authorization`` header."""
    env = os.environ if environ is None else environ
    return settings.options.api_key or env.get(settings.api_key_env) or env.get("OPENAI_API_KEY")


class Upstream:
    def __init__(
        self,
        settings: ProxySection,
        *,
        environ: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not settings.upstream_url.strip():
            raise ConfigError(
                "the proxy has no upstream: set proxy.upstream_url (or pass --upstream URL), "
                "the base URL of an OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1"
            )
        try:
            url = check_base_url(settings.upstream_url.strip(), "proxy.upstream_url (--upstream)")
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        self.base = url.rstrip("/")
        self.settings = settings
        key = upstream_key(settings, environ)
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}
        timeout = httpx.Timeout(settings.timeout_seconds, connect=settings.connect_timeout_seconds)
        self.client = httpx.AsyncClient(timeout=timeout, verify=True, transport=transport)

    async def post(self, path: str, body: dict[str, Any], *, stream: bool) -> httpx.Response:
        """Send ``body``; the response once its status is a success (streamed: not read)."""
        request = self.client.build_request(
            "POST", self.base + path, json=body, headers=self.headers
        )
        return await self._send(request, stream=stream)

    async def get(self, path: str) -> httpx.Response:
        request = self.client.build_request("GET", self.base + path, headers=self.headers)
        return await self._send(request, stream=False)

    async def _send(self, request: httpx.Request, *, stream: bool) -> httpx.Response:
        try:
            response = await self.client.send(request, stream=stream)
        except httpx.TransportError as exc:
            raise self.failure(exc) from None
        if response.status_code >= 400:
            try:
                await response.aread()
            except httpx.TransportError as exc:
                raise self.failure(exc) from None
            finally:
                await response.aclose()
            raise self.refusal(response)
        return response

    def failure(self, exc: httpx.TransportError, *, streaming: bool = False) -> UpstreamError:
        """What a transport error means for the client (``streaming``: while its answer
        was streamed)."""
        where = display_url(self.base)
        detail = scrub_headers(str(exc) or type(exc).__name__, self.headers)
        if isinstance(exc, httpx.ConnectTimeout):
            return UpstreamError(
                f"the upstream at {where} accepted no connection within "
                f"{self.settings.connect_timeout_seconds:g} s"
            )
        if isinstance(exc, httpx.TimeoutException):
            return UpstreamError(
                f"the upstream at {where} did not answer within "
                f"{self.settings.timeout_seconds:g} s",
                status=504,
                code="upstream_timeout",
            )
        if streaming:
            return UpstreamError(f"the upstream at {where} broke off its answer: {detail}")
        return UpstreamError(f"the upstream at {where} is unreachable: {detail}")

    def cut_short(self) -> UpstreamError:
        """A streamed answer that ended before it was complete."""
        return UpstreamError(
            f"the upstream at {display_url(self.base)} ended its streamed answer before the "
            "reply was complete (no finish_reason, no [DONE]); the reply was not recorded"
        )

    def refusal(self, response: httpx.Response) -> UpstreamError:
        status = response.status_code
        message = scrub_headers(server_message(response), self.headers)
        text = f"the upstream at {display_url(self.base)} answered HTTP {status}: {message}"
        if status in (401, 403):
            given = "is not accepted" if self.headers else "is not set"
            text += (
                f" (the proxy's own upstream key {given}: set proxy.options.api_key, "
                f"${self.settings.api_key_env} or $OPENAI_API_KEY where the proxy runs; "
                "the client's LightMem key never goes upstream)"
            )
        if status in CLIENT_STATUSES:
            retry = response.headers.get("retry-after")
            return UpstreamError(text, status=status, code="upstream_refused", retry_after=retry)
        return UpstreamError(text)

    async def aclose(self) -> None:
        await self.client.aclose()


def json_object(response: httpx.Response, where: str) -> dict[str, Any]:
    """The upstream's JSON body, which must be an object (else 502)."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        body = None
    if not isinstance(body, dict):
        raise UpstreamError(f"the upstream's answer to {where} is not a JSON object")
    return body


async def event_stream(response: httpx.Response, where: str) -> httpx.Response:
    """The upstream's streamed answer, which must be an event stream (else 502): a page of
    HTML or a JSON body, relayed as they are, give an OpenAI client an empty reply."""
    kind = response.headers.get("content-type", "")
    if not kind or kind.partition(";")[0].strip().lower() == "text/event-stream":
        return response
    await response.aclose()
    raise UpstreamError(
        f"the upstream's answer to {where} is not an event stream (its Content-Type is "
        f"{kind.partition(';')[0].strip()!r}, not 'text/event-stream')"
    )
