"""The REST API: FastAPI routes under ``/v1`` over one :class:`~lightmem.Memory`.

Every route takes its scope from the caller's API key (:mod:`lightmem.server.auth`); errors
become JSON in one place (:mod:`lightmem.server.errors`). ``add`` answers 202 once the turns
are durable (the Memory's background worker extracts); ``consolidate`` answers 202 and runs
after the response.
"""

from __future__ import annotations

from fastapi import Depends, FastAPI

from lightmem import __version__
from lightmem.memory import Memory
from lightmem.server.base import harden, require_background
from lightmem.server.keys import KeyStore
from lightmem.server.middleware import DEFAULT_BODY_TIMEOUT_S, DEFAULT_MAX_BODY_BYTES
from lightmem.server.rest import (
    activity,
    browser,
    decisions,
    docs,
    forgetting,
    grants,
    memories,
    service,
    transfer,
)
from lightmem.server.rest.deps import known_query
from lightmem.server.rest.jobs import Jobs


def create_app(
    memory: Memory,
    keys: KeyStore | None,
    *,
    anonymous_until_keys: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
) -> FastAPI:
    """The app over ``memory``. ``keys=None`` serves without authentication, to loopback
    clients only (the caller binds to loopback; ``lightmem serve`` checks it);
    ``anonymous_until_keys`` does so only while the store has no key: once one is created,
    every request needs a key."""
    require_background(memory)
    app = FastAPI(
        title="LightMem",
        version=__version__,
        summary="Long-term memory for LLM applications and agents.",
        openapi_url="/openapi.json",
        docs_url=None,  # served below from local assets: no CDN, works offline
        redoc_url=None,
    )
    docs.mount(app)
    app.state.memory = memory
    app.state.keys = keys
    app.state.anonymous_until_keys = anonymous_until_keys
    app.state.jobs = Jobs()
    for routes in (service, activity, memories, forgetting, grants, decisions, transfer):
        app.include_router(routes.router, dependencies=[Depends(known_query)])
    browser.mount(app)
    harden(
        app,
        keyless=keys is None or anonymous_until_keys,
        max_body_bytes=max_body_bytes,
        body_timeout_s=body_timeout_s,
    )
    return app
