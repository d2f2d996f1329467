"""What every HTTP app over a store shares (the REST API, the memory proxy): the check that
the Memory runs its pipeline in the background, and the one order of error handlers and
middleware around the routes."""

from __future__ import annotations

from fastapi import FastAPI

from lightmem.errors import ConfigError
from lightmem.memory import Memory
from lightmem.server.errors import Respond, error_response, install_error_handlers
from lightmem.server.middleware import AccessLog, BodyLimit, InFlight, LoopbackGuard, NoSniff


def require_background(memory: Memory) -> None:
    """A server adds turns and answers at once: extraction must not run in the request."""
    if memory.config.worker.enabled and not memory.config.worker.background:
        raise ConfigError(
            "the server needs a Memory opened with worker.background = true (or "
            "worker.enabled = false, with `lightmem worker` processes), so that adding "
            "returns once turns are durable and extraction runs in the background"
        )


def harden(
    app: FastAPI,
    *,
    keyless: bool,
    max_body_bytes: int,
    body_timeout_s: float,
    respond: Respond = error_response,
) -> None:
    """Error handlers (innermost), the body limit, the loopback guard of the keyless mode,
    ``nosniff`` on every answer (the guards' and the limit's too), the count of requests in
    flight that long work gives way to, and the access log (outermost), each answering
    through ``respond``."""
    install_error_handlers(app, respond)
    app.add_middleware(
        BodyLimit, max_bytes=max_body_bytes, timeout_s=body_timeout_s, respond=respond
    )
    if keyless:
        app.add_middleware(LoopbackGuard, respond=respond)
    app.add_middleware(NoSniff)
    app.add_middleware(InFlight)
    app.add_middleware(AccessLog)
