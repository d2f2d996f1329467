"""``lightmem serve`` (the REST API) and ``lightmem mcp`` (the MCP server).

Plain command functions the main CLI mounts; they use its global ``--store``/``--config``
options and its one error handler. They import the server extra when they run.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Annotated

import typer

from lightmem.access import Principal
from lightmem.cli.serving import (
    AllowOpt,
    BodyTimeoutOpt,
    HostOpt,
    MaxBodyOpt,
    PortOpt,
    announce,
    check_bind,
    checked_keys,
    hostport,
    is_loopback,
    log_to_stderr,
    open_memory,
    require,
    run_http,
    warm_up,
)
from lightmem.cli.state import AgentOpt, UserOpt, note
from lightmem.errors import InputError

__all__ = ["check_bind", "is_loopback", "mcp", "serve"]


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


def serve(
    ctx: typer.Context,
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8000,
    allow_unauthenticated_loopback: AllowOpt = False,
    max_body_bytes: MaxBodyOpt = 1024 * 1024,
    body_timeout: BodyTimeoutOpt = 10.0,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="Run no pipeline here (stateless): `lightmem worker` processes extract.",
        ),
    ] = False,
) -> None:
    """Serve the REST API (OpenAPI schema at /openapi.json, routes under /v1)."""
    uvicorn = require("uvicorn")
    create_app = require("lightmem.server.rest.app").create_app
    with open_memory(ctx, pipeline=not no_worker) as memory:
        keys, configured = checked_keys(memory, host, port, allow_unauthenticated_loopback)
        log_to_stderr()
        # Started without keys: anonymous loopback clients until the first key is created,
        # then every request needs a key (a later `keys create` switches the server to auth).
        app = create_app(
            memory,
            keys,
            anonymous_until_keys=not configured,
            max_body_bytes=max_body_bytes,
            body_timeout_s=body_timeout,
        )
        base = f"http://{hostport(host, port)}"
        announce(f"REST API on {base}/v1", memory, keys, configured)
        note(f"memory browser: {base}/ui")
        note(f"API reference: {base}/docs")
        if no_worker:
            note("--no-worker: this process stores turns only; `lightmem worker` processes them")
        warm_up(memory)
        run_http(uvicorn, app, host, port)


def mcp(
    ctx: typer.Context,
    user: UserOpt = None,
    agent: AgentOpt = None,
    transport: Annotated[
        Transport, typer.Option("--transport", help="stdio (one local client) or http.")
    ] = Transport.stdio,
    host: HostOpt = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port for --transport http.")
    ] = 8001,
    allow_unauthenticated_loopback: AllowOpt = False,
) -> None:
    """Serve memory tools over MCP: on stdio for --user/--agent, on HTTP per API key."""
    logging.getLogger("mcp").setLevel(logging.WARNING)  # its INFO lines quote tool errors
    if transport is Transport.stdio:
        if user is None and agent is None:
            raise InputError("give --user USER and/or --agent AGENT: the memories to serve")
        principal = Principal.for_scope("stdio", user, agent)
        with open_memory(ctx) as memory:
            # The embedding model loads while the MCP SDK is imported and the client
            # connects, not at the first search: a client starts this server per session.
            warm_up(memory)
            require("lightmem.server.mcp").create_mcp_server(memory, principal).run("stdio")
        return
    mcp_mod = require("lightmem.server.mcp")
    uvicorn = require("uvicorn")
    with open_memory(ctx) as memory:
        keys, configured = checked_keys(memory, host, port, allow_unauthenticated_loopback)
        if configured and (user is not None or agent is not None):
            raise InputError(
                "with API keys, each request's key names its user: drop --user/--agent"
            )
        if not configured and user is None and agent is None:
            raise InputError("without API keys, give --user USER and/or --agent AGENT to serve")
        local = None if configured else Principal.for_scope("local", user, agent)
        log_to_stderr()
        app = mcp_mod.http_app(memory, keys=keys, principal=local, host=host)
        announce(f"MCP on http://{hostport(host, port)}/mcp", memory, keys, configured)
        warm_up(memory)
        run_http(uvicorn, app, host, port)
