"""The REST API's error responses: every error becomes a status and a stable code through
the one table in :mod:`lightmem.server.codes`, which the MCP tools read too.

Every error response has the shape ``{"error": {"code": ..., "message": ...}}``. Faults on
the server side (config, storage, provider, internal) answer a fixed message, so paths,
endpoints and model output stay out of responses; only the exception's type is logged.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lightmem.errors import LightMemError
from lightmem.server.codes import (
    ErrorCode,
    ServerError,
    TooLargeError,
    UnauthorizedError,
    classify,
    log,
    problems,
)

__all__ = [
    "ErrorCode",
    "ServerError",
    "TooLargeError",
    "UnauthorizedError",
    "classify",
    "error_body",
    "error_response",
    "install_error_handlers",
    "log",
]

_HTTP_CODES: dict[int, ErrorCode] = {
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    409: "conflict",
    413: "too_large",
}


def error_body(code: ErrorCode, message: str) -> dict[str, dict[str, str]]:
    return {"error": {"code": code, "message": message}}


def error_response(status: int, code: ErrorCode, message: str) -> JSONResponse:
    """The error as JSON; ``nosniff`` also on answers given before the app (guards, limits)."""
    headers = {"X-Content-Type-Options": "nosniff"}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(code, message), status_code=status, headers=headers)


#: Writes an error response: ``(status, code, message)``. The REST API's is
#: :func:`error_response`; the proxy answers in OpenAI's shape with the same table.
Respond = Callable[[int, ErrorCode, str], Response]


def install_error_handlers(app: FastAPI, respond: Respond = error_response) -> None:
    """Register the handlers; call before adding other middleware (this one is innermost)."""
    app.add_exception_handler(LightMemError, partial(_on_error, respond=respond))
    app.add_exception_handler(RequestValidationError, partial(_on_validation, respond=respond))
    app.add_exception_handler(StarletteHTTPException, partial(_on_http, respond=respond))
    app.add_middleware(_Unexpected, respond=respond)


class _Unexpected:
    """Any other exception: the same JSON shape, and only its type in the log. (Starlette's
    own handler would re-raise it, and the server would log its message and traceback.)"""

    def __init__(self, app: ASGIApp, respond: Respond = error_response) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception as exc:  # noqa: BLE001 - answered (500) and logged by type
            route = getattr(scope.get("route"), "path", "<unmatched>")
            log.error("%s %s failed: %s", scope["method"], route, type(exc).__name__)
            if not started:
                status, code, message = classify(exc)
                await self.respond(status, code, message)(scope, receive, send)


async def _on_error(request: Request, exc: Exception, *, respond: Respond) -> Response:
    status, code, message = classify(exc)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, _template(request), type(exc).__name__)
    return respond(status, code, message)


async def _on_validation(
    request: Request, exc: RequestValidationError, *, respond: Respond
) -> Response:
    errors = exc.errors()
    message = problems(errors, "unknown field: check its spelling")
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    whole = any(tuple(e.get("loc", ())) == ("body",) for e in errors)
    if whole and kind and "json" not in kind:  # FastAPI read it as no JSON at all
        message = f"the body was sent as {kind!r}: send JSON, Content-Type: application/json"
    return respond(422, "invalid_input", message or "invalid request")


async def _on_http(request: Request, exc: StarletteHTTPException, *, respond: Respond) -> Response:
    if exc.status_code == 400:
        # A body that is not JSON (FastAPI's 400): the documented answer is 422.
        detail = exc.detail if isinstance(exc.detail, str) else "malformed request body"
        return respond(422, "invalid_input", f"malformed request body: {detail}")
    code = _HTTP_CODES.get(exc.status_code)
    if code is None:
        code = "internal" if exc.status_code >= 500 else "invalid_input"
    message = exc.detail if isinstance(exc.detail, str) else code
    return respond(exc.status_code, code, message)


def _template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "<unmatched>"))
