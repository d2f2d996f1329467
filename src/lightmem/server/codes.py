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
    not taken is (a misspelling, often)."""
    out = []
    for err in list(errors)[:limit]:
        where = ".".join(str(p) for p in err.get("loc", ())) or "request"
        rule = unknown if err.get("type") == "extra_forbidden" else err.get("msg", "invalid")
        out.append(f"{where}: {rule}")
    return "; ".join(out)
