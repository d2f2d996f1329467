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
from lightmem.server.auth import Principal, is_pool, pool_scope
from lightmem.server.errors import UnauthorizedError, classify, log
from lightmem.types import AccessLevel, Scope

#: Where :class:`~lightmem.server.mcp.KeyAuth` leaves the caller's principal in the ASGI
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

    def scope_of(self, ctx: Context, user_id: str | None = None) -> Scope:
        return self.caller(ctx).scope(user_id=user_id)

    def pool_of(
        self, ctx: Context, pool_user: str | None, pool_agent: str | None, need: AccessLevel
    ) -> Scope:
        """The connection's own scope, or the shared pool it names (through a grant)."""
        if pool_user is None and pool_agent is None:
            return self.scope_of(ctx)
        return pool_scope(self.memory, self.caller(ctx), pool_user, pool_agent, need=need)

    def author(self, ctx: Context, scope: Scope) -> str | None:
        """Who a write into ``scope`` is attributed to (None: the scope's owner)."""
        p = self.caller(ctx)
        return f"key:{p.name}" if is_pool(p, scope) else None
