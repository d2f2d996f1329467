"""``doctor``: whether the configured LLM endpoint, the embedder and the store work, said in
seconds, with what to check for each one that does not.

Each part is built and tried on its own (one embedding, one short LLM call bounded by
``--timeout``, a read and a small write of the store), so one broken part does not hide the
state of the others. Nothing is printed of the store's contents.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from lightmem.cli.state import JsonOpt, emit_json, out, state
from lightmem.config import MemoryConfig, lightmem_home
from lightmem.embedders.base import Embedder
from lightmem.engine import storedir
from lightmem.engine.assembly import llm_mode
from lightmem.errors import LightMemError, UnreachableError
from lightmem.http import EndpointError
from lightmem.llm.base import LLM, ChatMessage
from lightmem.registry import build, build_llm
from lightmem.stores.base import Store

PING = [
    ChatMessage(role="system", content="Answer with the single word OK."),
    ChatMessage(role="user", content="ping"),
]


@dataclass(slots=True)
class Check:
    name: str  # config, embedder, llm, store
    ok: bool
    detail: str  # what was checked
    seconds: float = 0.0
    error: str | None = None  # what failed, and what to check


def doctor(
    ctx: typer.Context,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1.0, help="Seconds the LLM may take to answer.")
    ] = 15.0,
    as_json: JsonOpt = False,
) -> None:
    """Check that the configured LLM endpoint, the embedder and the store work."""
    st = state(ctx)
    path = st.store if st.store is not None else lightmem_home()
    checks = diagnose(path, st.config, timeout=timeout, llm=st.llm)
    ok = all(c.ok for c in checks)
    if as_json:
        emit_json({"ok": ok, "store": str(path), "checks": [asdict(c) for c in checks]})
    else:
        out().print(_table(checks))
    if not ok:
        raise typer.Exit(1)


def diagnose(
    path: Path, config: Path | None, *, timeout: float, llm: str | None = None
) -> list[Check]:
    """The checks, in order: config, embedder, llm, store (``llm``: ``--llm``)."""
    saved = storedir.saved_config(path)
    named = " over ".join(str(p) for p in (config, saved) if p is not None)
    given: dict[str, Any] = {} if llm is None else {"llm": llm}
    try:
        cfg = MemoryConfig.load(config, base=saved, **given)
    except LightMemError as exc:
        return [Check("config", False, named or "defaults", error=str(exc))]
    checks = [Check("config", True, named or "defaults (no config file yet)")]
    embedder_check, embedder = _embedder(cfg)
    llm_check, mode = _llm(cfg, timeout)
    checks += [embedder_check, llm_check, _store(cfg, path, embedder, mode)]
    return checks


def _embedder(cfg: MemoryConfig) -> tuple[Check, Embedder | None]:
    t0 = time.perf_counter()
    try:
        embedder: Embedder = build("embedder", cfg.embedder, Embedder)
        embedder.embed(["lightmem doctor"])
        detail = f"{embedder.model_id} ({embedder.dim} dimensions)"
    except LightMemError as exc:
        return Check("embedder", False, cfg.embedder.provider, _since(t0), str(exc)), None
    return Check("embedder", True, detail, _since(t0)), embedder


def _llm(cfg: MemoryConfig, timeout: float) -> tuple[Check, str | None]:
    """The check, and the mode the config resolves to (None: it cannot be built)."""
    t0 = time.perf_counter()
    try:
        llm = build_llm(cfg.llm)
    except LightMemError as exc:
        return Check("llm", False, cfg.llm.provider, _since(t0), str(exc)), None
    mode = llm_mode(llm)
    if not llm.available:
        return Check("llm", True, "no-LLM mode (no endpoint configured): nothing to call"), mode
    detail = _describe(llm)
    try:
        outcome = _bounded(lambda: llm.complete(PING, max_tokens=5), timeout)
    finally:
        llm.close()
    if outcome is None:
        error = f"no answer within {timeout:g} s; {_ENDPOINT_HINT}"
        return Check("llm", False, detail, _since(t0), error), mode
    if isinstance(outcome, BaseException):
        return Check("llm", False, detail, _since(t0), _llm_error(outcome)), mode
    return Check("llm", True, detail, _since(t0)), mode


def _store(cfg: MemoryConfig, path: Path, embedder: Embedder | None, mode: str | None) -> Check:
    """Opened as a Memory would open it: the embedder and the LLM mode it was built with
    checked (not recorded), a count read and a meta key written."""
    t0 = time.perf_counter()
    if not path.is_dir():
        parent = next((p for p in path.parents if p.exists()), path)
        writable = parent.is_dir() and _writable(parent)
        detail = f"no store at {path} yet: the first add creates it"
        error = None if writable else f"{parent} is not a writable directory"
        return Check("store", writable, detail, _since(t0), error)
    if embedder is None:
        return Check("store", False, str(path), error="not opened: the embedder failed")
    try:
        store: Store = build("store", storedir.store_section(cfg, path), Store)
        store.open(embedder.dim)
        try:
            storedir.check_embedder(store, embedder.model_id)
            if mode is not None:
                storedir.check_llm_mode(store, cfg.llm.provider, mode, record=False)
            n = store.count_entries(None)
            store.set_meta("doctor:checked_at", datetime.now(UTC).isoformat(timespec="seconds"))
        finally:
            store.close()
    except LightMemError as exc:
        return Check("store", False, f"{cfg.store.provider} at {path}", _since(t0), str(exc))
    detail = f"{cfg.store.provider} at {path}: {n} memories, read and written"
    return Check("store", True, detail, _since(t0))


_ENDPOINT_HINT = (
    "check that the server runs and that OPENAI_BASE_URL (or llm.options.base_url) points at it"
)


def _describe(llm: LLM) -> str:
    where = getattr(llm.options, "base_url", None)
    return f"{llm.mode} {llm.model_name}" + (f" at {where}" if where else "")


def _llm_error(exc: BaseException) -> str:
    if isinstance(exc, UnreachableError):
        return f"{exc}; {_ENDPOINT_HINT}"
    if isinstance(exc, EndpointError) and exc.status in (401, 403):
        return f"{exc}; check OPENAI_API_KEY (or llm.options.api_key)"
    if isinstance(exc, EndpointError) and exc.status == 404:
        return f"{exc}; check the model name (LIGHTMEM_LLM_MODEL) and that the URL ends in /v1"
    return f"{type(exc).__name__}: {exc}"


def _bounded(call: Callable[[], object], timeout: float) -> object | BaseException | None:
    """``call()``'s result or exception, or None when it takes longer than ``timeout`` (it
    is left to finish in a daemon thread; the command does not wait for it)."""
    box: list[object | BaseException] = []

    def run() -> None:
        try:
            box.append(call())
        except Exception as exc:  # noqa: BLE001 - reported as the check's outcome
            box.append(exc)

    thread = threading.Thread(target=run, name="lightmem-doctor-llm", daemon=True)
    thread.start()
    thread.join(timeout)
    return box[0] if box else None


def _writable(directory: Path) -> bool:
    return os.access(directory, os.W_OK | os.X_OK)


def _since(t0: float) -> float:
    return round(time.perf_counter() - t0, 3)


def _table(checks: list[Check]) -> Table:
    table = Table(title="lightmem doctor")
    for name in ("check", "result", "what", "seconds"):
        table.add_column(name, justify="right" if name == "seconds" else "left")
    for c in checks:
        result = Text("ok", style="green") if c.ok else Text("FAILED", style="bold red")
        what = Text(c.detail)
        if c.error:
            what.append("\n" + c.error, style="red")
        table.add_row(c.name, result, what, f"{c.seconds:.2f}")
    return table
