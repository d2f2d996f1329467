"""The dependencies every REST route shares: the caller (from the API key), the memory as
that caller sees it (:class:`~lightmem.scoped.ScopedMemory`), and the error responses the
OpenAPI schema lists."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lightmem.errors import InputError
from lightmem.memory import Memory
from lightmem.scoped import ScopedMemory
from lightmem.server.auth import Principal, authenticate
from lightmem.server.rest.schemas import ErrorOut

_bearer = HTTPBearer(
    auto_error=False, scheme_name="ApiKey", description="A key from `lightmem keys create`."
)


def _caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> Principal:
    return authenticate(
        request.app.state.keys,
        credentials.credentials if credentials else None,
        anonymous_until_keys=getattr(request.app.state, "anonymous_until_keys", False),
    )


def _memory(request: Request) -> Memory:
    memory: Memory = request.app.state.memory
    return memory


def _view(
    caller: Annotated[Principal, Depends(_caller)], memory: Annotated[Memory, Depends(_memory)]
) -> ScopedMemory:
    return memory.as_actor(caller)


Caller = Annotated[Principal, Depends(_caller)]
Mem = Annotated[Memory, Depends(_memory)]
#: The memory as the caller's key sees it: every route's one access path.
View = Annotated[ScopedMemory, Depends(_view)]
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": description}
    for status, description in (
        (401, "unauthorized: no key, or an unknown or revoked key"),
        (403, "forbidden: the key may not touch that user/agent"),
        (408, "timeout: the request body did not arrive in time"),
        (409, "conflict: ids that exist already, or an idempotency key reused"),
        (413, "too_large: the body is over the server's limit"),
        (422, "invalid_input: the request is malformed"),
        (500, "config or internal"),
        (502, "provider: an LLM or embedding backend failed"),
        (503, "storage: the store is unavailable"),
    )
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "not_found: no such id in the key's scopes"}
}


#: methods whose fields come in a JSON body
_BODY_METHODS = frozenset({"POST", "PATCH", "PUT"})


def known_query(request: Request) -> None:
    """A query parameter the route does not take is 422: a route that takes its fields in
    the body ignored them, so ``POST /v1/search?user_id=bob`` answered as if it were not
    there (the GET routes refuse them in their query models)."""
    if request.method not in _BODY_METHODS or not request.query_params:
        return
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    known: set[str] = set()
    stack = [dependant]
    while stack:
        d = stack.pop()
        known.update(p.alias for p in d.query_params)
        stack.extend(d.dependencies)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise InputError(
            f"unknown query parameter(s): {', '.join(unknown)}; {request.method} "
            f"{request.url.path} takes its fields in the JSON body"
        )
