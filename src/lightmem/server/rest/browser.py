"""The memory browser at ``/ui``: a static page and a few JavaScript modules over the REST
API, shipped in the wheel (no CDN: it works offline). The page holds no data; every request
it makes carries the API key the user entered (kept in the page's memory only), so it sees
exactly what that key may see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

ASSETS = Path(__file__).with_name("ui")
#: No inline script, nothing from elsewhere: a key cannot leak to another origin.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' blob:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def page_headers(csp: str) -> dict[str, str]:
    """The headers of a page this server serves (``/ui``, ``/docs``)."""
    return {
        "Content-Security-Policy": csp,
        "Cache-Control": "no-store",
        "Referrer-Policy": "no-referrer",
    }


class Assets(StaticFiles):
    """Static files under the page's CSP too: an HTML file reached by its asset path (say
    ``/ui/assets/docs.html``) runs under the same rules as the page it belongs to."""

    def __init__(self, directory: Path, csp: str) -> None:
        super().__init__(directory=directory)
        self.csp = csp

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Content-Security-Policy"] = self.csp
        return response


def mount(app: FastAPI) -> None:
    app.mount("/ui/assets", Assets(ASSETS, CSP), name="ui-assets")

    @app.get("/ui", include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(ASSETS / "index.html", headers=page_headers(CSP))

    @app.get("/ui/", include_in_schema=False)
    def slash() -> RedirectResponse:
        return RedirectResponse("/ui")
