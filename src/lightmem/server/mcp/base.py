"""What every MCP tool shares: who is calling (:class:`Connection`), the pool arguments, and
:func:`translated`, the one place where LightMem errors become MCP errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, ParamSpec, TypeVar

from mcp.server.mcpserver import Context
from pydantic import Field

from lightmem.memory import Memory
from lightmem.scoped import ScopedMemory
from lightmem.server.auth import Principal
from lightmem.server.errors import UnauthorizedError, classify, log

#: Where :class:`~lightmem.server.mcp.http.KeyAuth` leaves the caller's principal in the ASGI
#: scope of an HTTP request.
PRINCIPAL_KEY = "lightmem.principal"

#: The optional arguments that name a shared pool (a grant must let the connection in).
PoolUser = Annotated[str | None, Field(description="A shared pool's user id (needs a grant).")]
PoolAgent = Annotated[str | None, Field(description="A shared pool's agent id (needs a grant).")]

P = ParamSpec("P")
R = TypeVar("R")


def translated(error: type[Exception]) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """The one place where LightMem errors become MCP errors, coded like the REST API."""

    def wrap(fn: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(fn)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure answers with its code
                status, code, message = classify(exc)
                if status >= 500:
                    log.error("MCP %s failed: %s", fn.__name__, type(exc).__name__)
                raise error(f"{code}: {message}") from None

        return run

    return wrap


@dataclass(frozen=True, slots=True)
class Connection:
    """The memory and the caller of a connection: fixed (stdio), or each HTTP request's."""

    memory: Memory
    principal: Principal | None = None

    def caller(self, ctx: Context) -> Principal:
        if self.principal is not None:
            return self.principal
        request = ctx.request_context.request
        found = getattr(request, "scope", {}).get(PRINCIPAL_KEY) if request is not None else None
        if not isinstance(found, Principal):
            raise UnauthorizedError("this connection carries no API key")
        return found

    def view(self, ctx: Context) -> ScopedMemory:
        """The memory as this connection's caller sees it: every tool's one access path."""
        return self.memory.as_actor(self.caller(ctx))
