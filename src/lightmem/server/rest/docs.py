"""The API reference at ``/docs``: Swagger UI 5 (which reads FastAPI's OpenAPI 3.1) from the
``fastapi-offline`` package's files, installed with ``lightmem[server]``, so the page works
without network access. The page and its init script are ours: no inline script, and the
same strict Content-Security-Policy as the memory browser, so a script on ``/docs`` runs
only what this server ships."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse

from lightmem.server.rest.browser import ASSETS, Assets, page_headers

#: Swagger UI draws its SVG icons from data: URLs; nothing else leaves the origin.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def swagger_assets() -> Path | None:
    """Where Swagger UI's bundle and stylesheet are installed, or None without them."""
    try:
        static = files("fastapi_offline") / "static"
    except ModuleNotFoundError:
        return None
    path = Path(str(static))
    return path if (path / "swagger-ui-bundle.js").is_file() else None


def mount(app: FastAPI) -> None:
    assets = swagger_assets()
    if assets is None:
        return
    app.mount("/docs/assets", Assets(assets, CSP), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(ASSETS / "docs.html", headers=page_headers(CSP))
