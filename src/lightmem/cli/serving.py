"""What the serving commands share (``serve``, ``mcp``, ``proxy``): the bind check, opening
the store with the background worker, importing an extra, and the startup lines."""

from __future__ import annotations

import errno
import importlib
import ipaddress
import logging
import signal
import socket
import threading
from typing import Annotated, Any

import typer

from lightmem.cli.state import note, state, warn
from lightmem.errors import ConfigError, LightMemError, MissingDependencyError
from lightmem.memory import Memory
from lightmem.server.keys import KeyStore
from lightmem.tokens import count_tokens

log = logging.getLogger(__name__)

HostOpt = Annotated[str, typer.Option("--host", help="Address to bind.")]
AllowOpt = Annotated[
    bool,
    typer.Option(
        "--allow-unauthenticated-loopback",
        help="Without API keys, serve local clients (loopback only) without authentication.",
    ),
]
PortOpt = Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")]
MaxBodyOpt = Annotated[
    int, typer.Option("--max-body-bytes", min=1, help="Request body limit (413 above).")
]
BodyTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--body-timeout", min=0.1, help="Seconds to wait for each body chunk (408 after)."
    ),
]


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


def check_port(host: str, port: int) -> None:
    """Refuse an address the server could not listen on (another server has the port), at
    start and with the fix, not with uvicorn's error after the startup lines."""
    name = host.strip("[]")
    family = socket.AF_INET6 if ":" in name else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((name, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(
                    f"port {port} on {host} is in use (another server listens there): stop "
                    "it, or pass --port with a free port"
                ) from None
            raise ConfigError(
                f"cannot listen on {host} port {port}: {exc.strerror or exc}"
            ) from None


def checked_keys(
    memory: Memory, host: str, port: int, allow_unauthenticated_loopback: bool
) -> tuple[KeyStore, bool]:
    """The store's API keys and whether any exists, once :func:`check_bind` allows ``host``
    and :func:`check_port` the port."""
    keys = KeyStore.for_memory(memory)
    configured = keys.configured()
    check_bind(
        host,
        keys_configured=configured,
        allow_unauthenticated_loopback=allow_unauthenticated_loopback,
    )
    check_port(host, port)
    return keys, configured


def run_http(uvicorn: Any, app: Any, host: str, port: int) -> None:
    """Serve ``app`` with uvicorn until stopped (its own access log off: ours has no ids),
    the interpreter set for many small requests (:mod:`lightmem.server.interpreter`)."""
    from lightmem.server.interpreter import ServerInterpreter

    interpreter = ServerInterpreter()
    main = threading.current_thread() is threading.main_thread()
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: with the
    # default handler that ended the process before the store was closed (its snapshots and
    # the ANN sidecars' pending changes never written); this handler ends it by SystemExit,
    # so every ``with`` around the server closes what it opened
    previous = signal.signal(signal.SIGTERM, _terminated) if main else None
    try:
        uvicorn.run(
            app, host=host, port=port, access_log=False, log_level="info", timeout_keep_alive=5
        )
    finally:
        interpreter.stop()
        if main:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)


def _terminated(signum: int, frame: object) -> None:
    raise SystemExit(0)  # a stop asked for and done: the server shut down gracefully


def warm_up(memory: Memory) -> threading.Thread:
    """Load the embedder and the token counter in a background thread, so that the first
    search does not (a model loading in C holds every other request up). A failure is left
    to the first call that embeds, which raises it with its message to the client."""

    def load() -> None:
        try:
            memory.embedder.warm()
            count_tokens("warm")
        except LightMemError as exc:
            log.debug("embedder warm-up failed (%s); the first search will say why", exc)

    thread = threading.Thread(target=load, name="lightmem-warm-up", daemon=True)
    thread.start()
    return thread


def open_memory(ctx: typer.Context, *, pipeline: bool = True) -> Memory:
    """The store, with the background worker on: requests return once turns are durable.
    Without ``pipeline`` (``serve --no-worker``), this process runs none: ``worker.enabled``
    is false and ``lightmem worker`` processes do the work."""
    st = state(ctx)
    worker = {"background": True} if pipeline else {"background": False, "enabled": False}
    return st.open(worker=worker)


def require(module: str, extra: str = "server") -> Any:
    """Import ``module``; a missing third-party package names the extra that brings it."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = (exc.name or module).split(".")[0]
        if missing == "lightmem":
            raise
        raise MissingDependencyError(missing, extra=extra) from None


def hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def announce(where: str, memory: Memory, keys: KeyStore, configured: bool) -> None:
    note(f"{where} for the store {str(memory.path)!r} ({memory.describe_llm()})")
    note(memory.describe_embedder())
    if configured:
        note(f"authentication: API keys from {keys.where} ({len(keys.list_keys())} key(s))")
    else:
        warn(
            "no API keys: serving WITHOUT authentication, to loopback clients only, until the "
            "first key is created (`lightmem keys create`), from then on every request needs one"
        )


def log_to_stderr() -> None:
    """The server's log lines on stderr, timestamped; with ``--verbose`` the root logger
    already prints them (a handler of ours too printed each line twice)."""
    logger = logging.getLogger("lightmem.server")
    if not logger.handlers and not logging.getLogger().handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
