"""The one table that turns every error into a status and a stable code, read by the REST
handlers (:mod:`lightmem.server.errors`) and the MCP tools alike. No web framework here: the
MCP server over stdio imports it without FastAPI."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from lightmem.errors import (
    AccessDeniedError,
    ConfigError,
    ConflictError,
    ExtractionError,
    InputError,
    LightMemError,
    NotFoundError,
    ProviderError,
    StorageError,
)

log = logging.getLogger("lightmem.server")

ErrorCode = Literal[
    "not_found",
    "invalid_input",
    "config",
    "forbidden",
    "unauthorized",
    "too_large",
    "conflict",
    "method_not_allowed",
    "timeout",
    "provider",
    "storage",
    "internal",
]


class ServerError(LightMemError):
    """An error of the HTTP/MCP layer itself."""


class UnauthorizedError(ServerError):
    """No API key, an unknown key, or a revoked one."""


class TooLargeError(ServerError):
    """The request body is larger than the server's limit."""


#: First match wins. ``message=None``: the exception's own text goes to the caller.
_TABLE: tuple[tuple[type[BaseException], int, ErrorCode, str | None], ...] = (
    (UnauthorizedError, 401, "unauthorized", None),
    (AccessDeniedError, 403, "forbidden", None),
    (TooLargeError, 413, "too_large", None),
    (NotFoundError, 404, "not_found", None),
    (InputError, 422, "invalid_input", None),
    (ConflictError, 409, "conflict", None),
    (ConfigError, 500, "config", "the server's configuration is invalid; see its log"),
    (ExtractionError, 502, "provider", "the LLM did not return a usable answer; try again"),
    (ProviderError, 502, "provider", "an LLM or embedding backend failed; try again"),
    (StorageError, 503, "storage", "the memory store is unavailable; try again"),
)


def classify(exc: BaseException) -> tuple[int, ErrorCode, str]:
    """``(http_status, code, message)`` for any exception."""
    for cls, status, code, fixed in _TABLE:
        if isinstance(exc, cls):
            return status, code, fixed or str(exc) or code
    return 500, "internal", "internal server error"


def problems(
    errors: Iterable[Mapping[str, Any]], unknown: str = "unknown field", limit: int = 10
) -> str:
    """A validation failure as ``"field: rule; ..."``: locations and reasons only, never the
    rejected values (the caller's data) nor a link; ``unknown`` says what a field that is
    not taken is (a misspelling, often). Of a field that takes one of several forms, only
    the form the value has is told (:func:`_the_branch`), without pydantic's names of them."""
    said: dict[str, list[str]] = {}
    for loc, err in _the_branch(list(errors)):
        where = ".".join(str(p) for p in loc) or "request"
        rule = unknown if err.get("type") == "extra_forbidden" else err.get("msg", "invalid")
        if rule not in said.setdefault(where, []):
            said[where].append(rule)
    out = [f"{where}: {' or '.join(rules)}" for where, rules in said.items()]
    return "; ".join(out[:limit])


#: pydantic's names of the forms of a union that are types, not fields
_TYPE_TAGS = frozenset({"str", "int", "float", "bool", "list", "dict", "none"})
#: where a request's parts are named as sent ("Idempotency-Key"), never a union's form
_NAMED_AS_SENT = frozenset({"header", "query", "path", "cookie"})


def _is_form(part: object) -> bool:
    """Whether a location part names a form of a union ("constrained-str", "MessageIn",
    "list[MessageIn]", "int"), not a field or an index."""
    return isinstance(part, str) and (
        part[:1].isupper() or "[" in part or part.startswith("constrained-") or part in _TYPE_TAGS
    )


def _the_branch(errors: list[Mapping[str, Any]]) -> list[tuple[tuple[Any, ...], Any]]:
    """Each error's location without the union's form names, and of a union's failures only
    those of the form that went deepest (the one the value has: a list of messages fails
    in a message's field, the string and message forms at the value itself)."""
    placed = []
    for err in errors:
        loc = tuple(err.get("loc", ()))
        at = None
        if not (loc and loc[0] in _NAMED_AS_SENT):
            at = next((i for i, p in enumerate(loc) if _is_form(p)), None)
        placed.append((loc, at, err))
    deepest: dict[tuple[Any, ...], int] = {}
    for loc, at, _ in placed:
        if at is not None:
            deepest[loc[:at]] = max(deepest.get(loc[:at], 0), len(loc) - at)
    out = []
    for loc, at, err in placed:
        if at is None:
            out.append((loc, err))
        elif len(loc) - at == deepest[loc[:at]]:
            out.append((loc[:at] + tuple(p for p in loc[at:] if not _is_form(p)), err))
    return out
