"""``lightmem proxy``: the OpenAI-compatible memory proxy (``docs/integrations.md``).

Authenticated like ``serve`` (the store's API keys, or keyless on loopback when asked), in
front of ``proxy.upstream_url``. Imports the proxy extra when it runs.
"""

from __future__ import annotations

from typing import Annotated

import typer

from lightmem.cli.serving import (
    AllowOpt,
    BodyTimeoutOpt,
    HostOpt,
    MaxBodyOpt,
    PortOpt,
    announce,
    checked_keys,
    hostport,
    log_to_stderr,
    open_memory,
    require,
    run_http,
    warm_up,
)
from lightmem.cli.state import note

#: The default request body limit: chat histories are long.
MAX_BODY_BYTES = 16 * 1024 * 1024


def proxy(
    ctx: typer.Context,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8100,
    upstream: Annotated[
        str | None,
        typer.Option(
            "--upstream", help="Base URL of the OpenAI-compatible upstream (proxy.upstream_url)."
        ),
    ] = None,
    allow_unauthenticated_loopback: AllowOpt = False,
    max_body_bytes: MaxBodyOpt = MAX_BODY_BYTES,
    body_timeout: BodyTimeoutOpt = 10.0,
) -> None:
    """Serve an OpenAI-compatible API that adds memory to every chat completion."""
    uvicorn = require("uvicorn", "proxy")
    create_proxy_app = require("lightmem.server.proxy", "proxy").create_proxy_app
    with open_memory(ctx) as memory:
        settings = memory.config.proxy
        if upstream is not None:
            settings = settings.model_copy(update={"upstream_url": upstream})
        keys, configured = checked_keys(memory, host, port, allow_unauthenticated_loopback)
        app = create_proxy_app(
            memory,
            keys,
            settings,
            anonymous_until_keys=not configured,
            max_body_bytes=max_body_bytes,
            body_timeout_s=body_timeout,
        )
        log_to_stderr()
        announce(f"memory proxy on http://{hostport(host, port)}/v1", memory, keys, configured)
        note(
            f"upstream: {settings.upstream_url} (memory block {settings.budget_tokens} tokens, "
            f"history turns kept: {settings.history_turns or 'all'})"
        )
        warm_up(memory)
        run_http(uvicorn, app, host, port)
