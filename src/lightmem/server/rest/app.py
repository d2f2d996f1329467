"""The REST API: FastAPI routes under ``/v1`` over one :class:`~lightmem.Memory`.

Every route takes its scope from the caller's API key (:mod:`lightmem.server.auth`); errors
become JSON in one place (:mod:`lightmem.server.errors`). ``add`` answers 202 once the turns
are durable (the Memory's background worker extracts); ``consolidate`` answers 202 and runs
after the response.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from lightmem import __version__
from lightmem.memory import Memory
from lightmem.server.base import harden, require_background
from lightmem.server.keys import KeyStore
from lightmem.server.middleware import DEFAULT_BODY_TIMEOUT_S, DEFAULT_MAX_BODY_BYTES
from lightmem.server.rest import (
    browser,
    decisions,
    forgetting,
    grants,
    memories,
    service,
    transfer,
)
from lightmem.server.rest.jobs import Jobs


def mount_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs`` from the ``swagger-ui-bundle`` package's files (installed
    with ``lightmem[server]``), so the page works without network access."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return
    assets = Path(str(swagger_ui_path))
    app.mount("/docs/assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="LightMem API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )


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
    mount_docs(app)
    app.state.memory = memory
    app.state.keys = keys
    app.state.anonymous_until_keys = anonymous_until_keys
    app.state.jobs = Jobs()
    for routes in (service, memories, forgetting, grants, decisions, transfer):
        app.include_router(routes.router)
    browser.mount(app)
    harden(
        app,
        keyless=keys is None or anonymous_until_keys,
        max_body_bytes=max_body_bytes,
        body_timeout_s=body_timeout_s,
    )
    return app
