"""One JSON POST with retries, shared by the HTTP backends (OpenAI-compatible LLM, embedder).

    from lightmem.http import post_json

    data = post_json(client, f"{base_url}/embeddings", {"model": m, "input": texts},
                     headers={"Authorization": f"Bearer {key}"}, max_retries=4, backoff=1.0)

* Retried: HTTP 408, 429 and 5xx, timeouts and connection errors; a connection that cannot
  be made at all (refused, no route, connect timeout) only ``connect_retries`` times, since
  an endpoint that is not running stays down for longer than a backoff. The wait before retry
  ``n`` (0-based) is the server's ``Retry-After`` (seconds or an HTTP date) when it sends
  one, else ``backoff * 2**n`` scaled by a random factor in [0.5, 1]; never more than
  ``max_wait`` seconds. ``max_retries=4`` means at most five attempts.
* Any other non-2xx status, a body that is not a JSON object, or running out of retries
  raises :class:`EndpointError` (a :class:`~lightmem.errors.ProviderError`) whose message
  names the status and the server's own message (``{"error": {"message": ...}}`` and the
  usual variants). The URL is shown without its query string or credentials, request headers
  are never shown, and their secret values are scrubbed from anything the server echoes.
* ``timeout=None`` uses the client's own timeout. ``sleep`` is injectable for tests.

The function holds no state; the caller owns the ``httpx.Client`` (and its TLS settings).
"""

from __future__ import annotations

import email.utils
import json
import random
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx

from lightmem.errors import ProviderError, UnreachableError

RETRY_STATUSES = frozenset({408, 429})
_SECRET_HEADERS = frozenset({"authorization", "api-key", "x-api-key", "proxy-authorization"})
_MAX_MESSAGE = 500


class EndpointError(ProviderError):
    """An HTTP endpoint failed; ``status`` is ``None`` when no response came back."""

    def __init__(
        self, message: str, *, status: int | None = None, server_message: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.server_message = server_message


class UnreachableEndpointError(EndpointError, UnreachableError):
    """No response came back: the connection failed or timed out (``status`` is None)."""


def post_json(
    client: httpx.Client,
    url: str,
    payload: Mapping[str, Any],
    *,
    headers: Mapping[str, str] | None = None,
    max_retries: int = 4,
    backoff: float = 1.0,
    timeout: float | None = None,
    max_wait: float = 60.0,
    connect_retries: int = 1,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """POST ``payload`` as JSON to ``url`` and return the decoded JSON object."""
    headers = dict(headers or {})
    secrets = _secret_values(headers)
    where = f"POST {display_url(url)}"
    kwargs: dict[str, Any] = {"json": payload, "headers": headers}
    if timeout is not None:
        kwargs["timeout"] = timeout
    attempts = max(0, max_retries) + 1
    no_connection = 0  # attempts that could not connect at all
    for attempt in range(attempts):
        last = attempt == attempts - 1
        try:
            response = client.post(url, **kwargs)
        except httpx.TransportError as exc:  # timeouts, refused connections, broken streams
            no_connection += isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
            if last or no_connection > connect_retries:
                raise UnreachableEndpointError(
                    f"{where} {transport_failure(exc, secrets)} "
                    f"({attempt + 1} attempt{'s' if attempt else ''})"
                ) from exc
            sleep(_delay(attempt, backoff, None, max_wait))
            continue
        status = response.status_code
        if 200 <= status < 300:
            return _decode(response, where, secrets)
        message = _scrub(server_message(response), secrets)
        if _retryable(status) and not last:
            sleep(_delay(attempt, backoff, response.headers.get("retry-after"), max_wait))
            continue
        tried = f" after {attempts} attempt(s)" if _retryable(status) else ""
        raise EndpointError(
            f"{where} failed with HTTP {status}{tried}: {message or response.reason_phrase}",
            status=status,
            server_message=message,
        )
    raise AssertionError("unreachable")  # pragma: no cover


def check_base_url(url: str, source: str) -> str:
    """``url`` if it is an http(s) URL with a host, else a ValueError that says where it came
    from (``source``: the option or the environment variable) and what one looks like."""
    try:
        u = httpx.URL(url)
        ok = u.scheme in ("http", "https") and bool(u.host)
    except (httpx.InvalidURL, TypeError):
        ok = False
    if not ok:
        raise ValueError(
            f"{source} is {url!r}, which is not an endpoint URL: it needs http:// or https:// "
            f"and a host, e.g. http://localhost:11434/v1 or https://api.openai.com/v1"
        )
    return url


def connect_timeout(timeout: float) -> httpx.Timeout:
    """``timeout`` for the whole request, at most 10 s to connect: a host that does not
    answer is known as unreachable in seconds, not after a slow model's allowance."""
    return httpx.Timeout(timeout, connect=min(timeout, 10.0))


def transport_failure(exc: httpx.TransportError, secrets: list[str]) -> str:
    """What went wrong in words: "connection refused", "timed out while connecting", ..."""
    detail = _scrub(str(exc) or type(exc).__name__, secrets)
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out while connecting"
    if isinstance(exc, httpx.TimeoutException):
        return "timed out waiting for the answer"
    if isinstance(exc, httpx.ConnectError):
        if "refused" in detail.lower():
            return "connection refused"
        return f"could not connect: {detail}"
    return f"connection failed: {detail}"


def server_message(response: httpx.Response) -> str:
    """The error text a server put in its body, in any of the usual shapes."""
    try:
        body: Any = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text.strip()[:_MAX_MESSAGE]
    for key in ("error", "message", "detail"):
        value = body.get(key) if isinstance(body, dict) else None
        if isinstance(value, dict):
            value = value.get("message") or value.get("msg") or json.dumps(value)
        if value:
            return str(value)[:_MAX_MESSAGE]
    return json.dumps(body)[:_MAX_MESSAGE]


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """Parse a ``Retry-After`` header: delta-seconds or an HTTP date; ``None`` if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _retryable(status: int) -> bool:
    return status in RETRY_STATUSES or status >= 500


def _delay(attempt: int, backoff: float, retry_after: str | None, max_wait: float) -> float:
    told = retry_after_seconds(retry_after)
    if told is not None:
        return min(told, max_wait)
    return min(backoff * 2**attempt * random.uniform(0.5, 1.0), max_wait)


def _decode(response: httpx.Response, where: str, secrets: list[str]) -> dict[str, Any]:
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        snippet = _scrub(response.text[:200], secrets)
        raise EndpointError(
            f"{where} returned HTTP {response.status_code} with a body that is not JSON: "
            f"{snippet!r}",
            status=response.status_code,
        ) from None
    if not isinstance(body, dict):
        raise EndpointError(
            f"{where} returned JSON {type(body).__name__}, expected an object",
            status=response.status_code,
        )
    return body


def display_url(url: str) -> str:
    """Scheme, host, port and path only: no credentials, no query (keys hide there)."""
    try:
        u = httpx.URL(url)
    except httpx.InvalidURL:
        return "<invalid url>"
    port = f":{u.port}" if u.port else ""
    return f"{u.scheme}://{u.host}{port}{u.path}"


def scrub_headers(text: str, headers: Mapping[str, str]) -> str:
    """``text`` with the secret values of ``headers`` (keys, tokens) replaced by ``***``."""
    return _scrub(text, _secret_values(headers))


def _secret_values(headers: Mapping[str, str]) -> list[str]:
    out = []
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS and value:
            out.append(value)
            token = value.split(" ", 1)[-1]  # "Bearer sk-..." -> "sk-..."
            if len(token) >= 4:
                out.append(token)
    return sorted(out, key=len, reverse=True)


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
