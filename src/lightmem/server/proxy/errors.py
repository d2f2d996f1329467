"""The proxy's errors, in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``,
so an OpenAI client raises its usual exception with the message. The status and code of a
LightMem error come from the one table of :mod:`lightmem.server.errors`; an invalid request
is 400, as OpenAI answers it (the REST API says 422)."""

from __future__ import annotations

import logging

from fastapi import Request
from fastapi.responses import JSONResponse

from lightmem.server.errors import ServerError

log = logging.getLogger("lightmem.server.proxy")

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


class UpstreamError(ServerError):
    """The model server behind the proxy failed: unreachable or an error answer (502 unless
    it refused the request itself: then its own 4xx), or too slow (504)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 502,
        code: str = "upstream_error",
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.retry_after = retry_after
        #: the session the request's turn was recorded in (``X-LightMem-Session``)
        self.session: str | None = None


def openai_error(status: int, code: str, message: str) -> JSONResponse:
    """An error response as OpenAI writes one."""
    status = 400 if status == 422 else status
    kind = _TYPES.get(status) or ("server_error" if status >= 500 else "invalid_request_error")
    body = {"error": {"message": message, "type": kind, "param": None, "code": code}}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, headers=headers)


async def on_upstream_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, UpstreamError)
    log.warning("upstream failed: HTTP %d %s", exc.status, exc.code)  # no text: it may quote
    response = openai_error(exc.status, exc.code, str(exc))
    if exc.retry_after:
        response.headers["Retry-After"] = exc.retry_after
    if exc.session is not None:
        response.headers["X-LightMem-Session"] = exc.session
    return response
