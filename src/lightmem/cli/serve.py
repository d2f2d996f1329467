"""``lightmem serve`` (the REST API) and ``lightmem mcp`` (the MCP server).

Plain command functions the main CLI mounts; they use its global ``--store``/``--config``
options and its one error handler. They import the server extra when they run.
"""

from __future__ import annotations

import importlib
import ipaddress
import logging
import threading
from enum import StrEnum
from typing import Annotated, Any

import typer

from lightmem.access import Principal
from lightmem.cli.state import AgentOpt, UserOpt, note, state, warn
from lightmem.errors import ConfigError, InputError, LightMemError, MissingDependencyError
from lightmem.memory import Memory
from lightmem.server.keys import KeyStore

log = logging.getLogger(__name__)

HostOpt = Annotated[str, typer.Option("--host", help="Address to bind.")]
AllowOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unauthenticated-loopback",
        help="Without API keys, serve local clients (loopback only) without authentication.",
    ),
]


class Transport(StrEnum):
    stdio = "stdio"
    http = "http"


# -- serving ----------------------------------------------------------------------------
def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, keys_configured: bool, allow_unauthenticated_loopback: bool) -> None:
    """Refuse to serve without authentication anywhere but loopback, and without keys at all
    unless asked to. Raises :class:`ConfigError` with the fix."""
    if keys_configured:
        return
    if not is_loopback(host):
        raise ConfigError(
            f"refusing to serve on {host!r} without API keys: without keys the server binds "
            f"to loopback only (127.0.0.1 or ::1). Create a key with "
            f"`lightmem keys create --user USER`, or bind to --host 127.0.0.1"
        )
    if not allow_unauthenticated_loopback:
        raise ConfigError(
            "no API keys are configured for this store: create one with "
            "`lightmem keys create --user USER`, or pass --allow-unauthenticated-loopback to "
            "serve local clients without authentication"
        )


def serve(
    ctx: typer.Context,
    host: HostOpt = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")
    ] = 8000,
    allow_unauthenticated_loopback: AllowOpt = False,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", min=1, help="Request body limit (413 above).")
    ] = 1024 * 1024,
    body_timeout: Annotated[
        float,
        typer.Option(
            "--body-timeout", min=0.1, help="Seconds to wait for each body chunk (408 after)."
        ),
    ] = 10.0,
    no_worker: Annotated[
        bool,
        typer.Option(
            "--no-worker",
            help="Run no pipeline here (stateless): `lightmem worker` processes extract.",
        ),
    ] = False,
) -> None:
    """Serve the REST API (OpenAPI schema at /openapi.json, routes under /v1)."""
    uvicorn = _require("uvicorn")
    create_app = _require("lightmem.server.rest.app").create_app
    with _open_memory(ctx, pipeline=not no_worker) as memory:
        keys = KeyStore.for_memory(memory)
        configured = keys.configured()
        check_bind(
            host,
            keys_configured=configured,
            allow_unauthenticated_loopback=allow_unauthenticated_loopback,
        )
        _log_to_stderr()
        # Started without keys: anonymous loopback clients until the first key is created,
        # then every request needs a key (a later `keys create` switches the server to auth).
        app = create_app(
            memory,
            keys,
            anonymous_until_keys=not configured,
            max_body_bytes=max_body_bytes,
            body_timeout_s=body_timeout,
        )
        base = f"http://{_hostport(host, port)}"
        _announce(f"REST API on {base}/v1", memory, keys, configured)
        note(f"memory browser: {base}/ui")
        note(f"API reference: {base}/docs")
        if no_worker:
            note("--no-worker: this process stores turns only; `lightmem worker` processes them")
        uvicorn.run(
            app,
            host=host,
            port=port,
            access_log=False,
            log_level="info",
            timeout_keep_alive=5,
        )


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
        with _open_memory(ctx) as memory:
            # The embedding model loads while the MCP SDK is imported and the client
            # connects, not at the first search: a client starts this server per session.
            warm_up(memory)
            _require("lightmem.server.mcp").create_mcp_server(memory, principal).run("stdio")
        return
    mcp_mod = _require("lightmem.server.mcp")
    uvicorn = _require("uvicorn")
    with _open_memory(ctx) as memory:
        keys = KeyStore.for_memory(memory)
        configured = keys.configured()
        check_bind(
            host,
            keys_configured=configured,
            allow_unauthenticated_loopback=allow_unauthenticated_loopback,
        )
        if configured and (user is not None or agent is not None):
            raise InputError(
                "with API keys, each request's key names its user: drop --user/--agent"
            )
        if not configured and user is None and agent is None:
            raise InputError("without API keys, give --user USER and/or --agent AGENT to serve")
        local = None if configured else Principal.for_scope("local", user, agent)
        _log_to_stderr()
        app = mcp_mod.http_app(memory, keys=keys, principal=local, host=host)
        _announce(f"MCP on http://{_hostport(host, port)}/mcp", memory, keys, configured)
        uvicorn.run(app, host=host, port=port, access_log=False, log_level="info")


# -- helpers ----------------------------------------------------------------------------
def warm_up(memory: Memory) -> threading.Thread:
    """Load the embedder in a background thread. A failure is left to the first call that
    embeds, which raises it with its message to the client."""

    def load() -> None:
        try:
            memory.embedder.warm()
        except LightMemError as exc:
            log.debug("embedder warm-up failed (%s); the first search will say why", exc)

    thread = threading.Thread(target=load, name="lightmem-warm-up", daemon=True)
    thread.start()
    return thread


def _open_memory(ctx: typer.Context, *, pipeline: bool = True) -> Memory:
    """The store, with the background worker on: requests return once turns are durable.
    Without ``pipeline`` (``serve --no-worker``), this process runs none: ``worker.enabled``
    is false and ``lightmem worker`` processes do the work."""
    st = state(ctx)
    worker = {"background": True} if pipeline else {"background": False, "enabled": False}
    return Memory(st.store, config=st.config, worker=worker)


def _require(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or module).split(".")[0]
        if missing == "lightmem":
            raise
        raise MissingDependencyError(missing, extra="server") from None


def _hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _announce(where: str, memory: Memory, keys: KeyStore, configured: bool) -> None:
    note(f"{where} for the store {str(memory.path)!r} ({memory.describe_llm()})")
    note(memory.describe_embedder())
    if configured:
        note(f"authentication: API keys from {keys.where} ({len(keys.list_keys())} key(s))")
    else:
        warn(
            "no API keys: serving WITHOUT authentication, to loopback clients only, until the "
            "first key is created (`lightmem keys create`), from then on every request needs one"
        )


def _log_to_stderr() -> None:
    logger = logging.getLogger("lightmem.server")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
