"""Small ASGI middlewares: a request body limit, an access log that records the method, the
route template, the status and the duration only (never a path with ids, a query string or a
body), ``X-Content-Type-Options: nosniff`` on every response, the keyless mode's loopback
guard, and the count of requests in flight that long work gives way to (:mod:`lightmem.giveway`)."""

from __future__ import annotations

import asyncio
import logging
import time

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lightmem import giveway
from lightmem.server.errors import Respond, error_response

access_log = logging.getLogger("lightmem.server.access")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_BODY_TIMEOUT_S = 10.0


class BodyLimit:
    """Answer 413 to a request whose body is larger than ``max_bytes``: at once when its
    ``Content-Length`` says so, else as soon as the streamed body passes the limit; and 408
    to one whose next body chunk does not arrive within ``timeout_s`` (a client that stops
    sending mid-body is not held open). Once the body is in, the app's later ``receive``
    (a streamed response waiting for the client to go away) waits as long as it takes: a
    long export is not cut off after ``timeout_s``."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int = DEFAULT_MAX_BODY_BYTES,
        timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
        respond: Respond = error_response,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_s = timeout_s
        self.respond = respond

    def _message(self) -> str:
        return f"the request body is larger than the limit of {self.max_bytes} bytes"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            response = self.respond(413, "too_large", self._message())
            await response(scope, receive, send)
            return
        seen = 0
        body_done = False

        async def limited() -> Message:
            nonlocal seen, body_done
            if body_done:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), self.timeout_s)
            except TimeoutError:
                raise HTTPException(
                    408, f"the request body did not arrive within {self.timeout_s:g} s"
                ) from None
            if message["type"] == "http.request":
                body_done = not message.get("more_body", False)
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI re-raises HTTPException from body parsing; the handler shapes it.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited, send)


class AccessLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = getattr(scope.get("route"), "path", "<unmatched>")
            ms = (time.perf_counter() - start) * 1000
            access_log.info("%s %s %d %.1fms", scope["method"], route, status, ms)


class InFlight:
    """Counts each HTTP request while it runs, response body included
    (:func:`lightmem.giveway.request`)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with giveway.request():
            await self.app(scope, receive, send)


class NoSniff:
    """``X-Content-Type-Options: nosniff`` on every response (errors, JSON, NDJSON, the
    browser's files): a browser never reads tenant text served as JSON or text as a script
    or a page."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.lower() != b"x-content-type-options"
                ]
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, stamped)


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _host_part(value: str) -> str:
    """``"localhost:8000"`` -> ``"localhost"``; ``"[::1]:80"`` -> ``"[::1]"``; origins too."""
    value = value.split("://", 1)[-1].split("/", 1)[0]
    if value.startswith("["):
        return value.split("]", 1)[0] + "]"
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class LoopbackGuard:
    """For the keyless mode: refuse requests whose ``Host`` or ``Origin`` is not a loopback
    name, so a web page cannot reach the server through DNS rebinding or a cross-site form."""

    def __init__(self, app: ASGIApp, respond: Respond = error_response) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            names = [headers.get(b"host", b""), headers.get(b"origin")]
            for raw in names:
                if raw is not None and _host_part(raw.decode("latin-1")) not in LOOPBACK_NAMES:
                    response = self.respond(
                        403,
                        "forbidden",
                        "this server runs without API keys and answers loopback clients only",
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)
