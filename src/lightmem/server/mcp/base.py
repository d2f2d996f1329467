"""What every MCP tool shares: who is calling (:class:`Connection`), the pool arguments, and
:func:`translated`, the one place where LightMem errors become MCP errors."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, ParamSpec, TypeVar

from mcp.server.mcpserver import Context
from pydantic import Field, ValidationError

from lightmem.memory import Memory
from lightmem.scoped import ScopedMemory
from lightmem.server.auth import Principal
from lightmem.server.codes import UnauthorizedError, classify, log, problems

#: Where :class:`~lightmem.server.mcp.http.KeyAuth` leaves the caller's principal in the ASGI
#: scope of an HTTP request.
PRINCIPAL_KEY = "lightmem.principal"

#: The optional arguments that name a shared pool (a grant must let the connection in).
PoolUser = Annotated[str | None, Field(description="A shared pool's user id (needs a grant).")]
PoolAgent = Annotated[str | None, Field(description="A shared pool's agent id (needs a grant).")]

P = ParamSpec("P")
R = TypeVar("R")


def tool_error_text(exc: Exception) -> str:
    """The text of a failed tool call, ``"<code>: <message>"`` as the REST API's codes: the
    SDK's wrapper (``Error executing tool ...``) is dropped, and bad arguments name the field
    and the rule, without the rejected value or a link."""
    cause = exc.__cause__
    if isinstance(cause, ValidationError):
        return "invalid_input: " + problems(cause.errors(), "this tool takes no such argument")
    if isinstance(cause, Exception) and cause.__class__ is exc.__class__:
        return str(cause)  # a translated LightMem error: already "<code>: <message>"
    text = str(exc)
    if text.startswith("Unknown tool: "):
        return f"not_found: no tool named {text.removeprefix('Unknown tool: ')!r}"
    return text


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
