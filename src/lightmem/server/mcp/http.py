"""The streamable-HTTP transport of the MCP server: every request needs a valid API key
(:class:`KeyAuth`), whose principal the tools read; keyless, it serves loopback only."""

from __future__ import annotations

from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from lightmem.errors import AccessDeniedError, LightMemError
from lightmem.memory import Memory
from lightmem.server.auth import Principal, authenticate, bearer_token
from lightmem.server.errors import classify, error_response
from lightmem.server.keys import KeyStore
from lightmem.server.mcp.base import PRINCIPAL_KEY
from lightmem.server.mcp.server import create_mcp_server
from lightmem.server.middleware import LoopbackGuard, NoSniff


class KeyAuth:
    """ASGI middleware of the HTTP transport: every request needs a valid API key bound to
    one user/agent (:func:`one_scope`); its principal is left in the request scope for the
    tools."""

    def __init__(self, app: ASGIApp, keys: KeyStore, until_keys: Principal | None = None) -> None:
        self.app = app
        self.keys = keys
        self.until_keys = until_keys  # keyless loopback: this principal while no key exists

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = dict(scope.get("headers") or []).get(b"authorization", b"")
            try:
                token = bearer_token(header.decode("latin-1"))
                if self.until_keys is not None and not token and not self.keys.configured():
                    principal = self.until_keys
                else:
                    principal = one_scope(authenticate(self.keys, token))
            except LightMemError as exc:  # unauthorized, or an unreadable keys file
                status, code, message = classify(exc)
                await error_response(status, code, message)(scope, receive, send)
                return
            scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)


def one_scope(principal: Principal) -> Principal:
    """The principal of a key bound to exactly one user/agent; another key is refused at
    once (its tools take no user id, so it could name none)."""
    if principal.admin or len(principal.scopes) != 1:
        what = "an admin key" if principal.admin else "a key of several users/agents"
        raise AccessDeniedError(
            f"the MCP server works in one user's memories, and this is {what}: create a key "
            "bound to one user for it (`lightmem keys create --user U`)"
        )
    return principal


def http_app(
    memory: Memory, *, keys: KeyStore | None, principal: Principal | None, host: str
) -> ASGIApp:
    """The streamable-HTTP app at ``/mcp``: keyed (one principal per request) or, keyless on
    loopback, fixed to ``principal``. The SDK guards loopback hosts against DNS rebinding."""
    server = create_mcp_server(memory, None if keys is not None else principal)
    app: Any = server.streamable_http_app(host=host)
    app.add_middleware(NoSniff)  # the guards' own refusals carry it too (error_response)
    if keys is None:
        return LoopbackGuard(app)
    if principal is not None:  # started without keys: loopback only, until the first key
        return LoopbackGuard(KeyAuth(app, keys, until_keys=principal))
    return KeyAuth(app, keys)
