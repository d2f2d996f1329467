"""The proxy's app factory: the OpenAI-compatible routes over one store and one upstream,
authenticated and hardened exactly as the REST API (:mod:`lightmem.server.base`), answering
errors in OpenAI's shape."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from lightmem import __version__
from lightmem.config import ProxySection
from lightmem.memory import Memory
from lightmem.server.base import harden, require_background
from lightmem.server.keys import KeyStore
from lightmem.server.middleware import DEFAULT_BODY_TIMEOUT_S
from lightmem.server.proxy.errors import UpstreamError, on_upstream_error, openai_error
from lightmem.server.proxy.routes import ProxyState, router
from lightmem.server.proxy.upstream import Upstream
from lightmem.server.proxy.warmup import Warmer

#: Chat histories are longer than REST bodies: 16 MiB by default.
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024


def create_proxy_app(
    memory: Memory,
    keys: KeyStore | None,
    settings: ProxySection | None = None,
    *,
    anonymous_until_keys: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
    environ: Mapping[str, str] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The proxy over ``memory`` (opened with ``worker.background = true``) in front of
    ``settings.upstream_url`` (default: the store's ``proxy`` config). ``keys=None`` serves
    without authentication, to loopback clients only; ``anonymous_until_keys`` does so only
    while the store has no key. ``environ`` is where the upstream key is looked up (default:
    the process environment); ``transport`` replaces the upstream HTTP transport."""
    require_background(memory)
    upstream = Upstream(settings or memory.config.proxy, environ=environ, transport=transport)
    warmer = Warmer(memory)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await upstream.aclose()
        warmer.close()

    app = FastAPI(
        title="LightMem proxy",
        version=__version__,
        summary="An OpenAI-compatible memory proxy.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.proxy = ProxyState(
        memory, keys, anonymous_until_keys, upstream.settings, upstream, warmer
    )
    app.include_router(router)
    app.add_exception_handler(UpstreamError, on_upstream_error)
    harden(
        app,
        keyless=keys is None or anonymous_until_keys,
        max_body_bytes=max_body_bytes,
        body_timeout_s=body_timeout_s,
        respond=openai_error,
    )
    return app
