"""``lightmem worker``: a worker process that segments, extracts and consolidates for every
owner of the store, sharing the work with other workers through claims (see
:mod:`lightmem.engine.process`). It runs until SIGTERM or SIGINT, then gives back the
claims it holds and prints what it did."""

from __future__ import annotations

import signal
import threading
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from lightmem.cli.state import JsonOpt, emit_json, note, state, warn
from lightmem.engine.assembly import assemble
from lightmem.engine.pipeline import Pipeline
from lightmem.engine.process import ClaimingStore, Journal, WorkerProcess, default_worker_id


def worker(
    ctx: typer.Context,
    worker_id: Annotated[
        str | None,
        typer.Option("--id", help="This worker's name in its claims (default: host:pid)."),
    ] = None,
    poll: Annotated[
        float, typer.Option("--poll", min=0.01, help="Seconds to wait after an idle round.")
    ] = 1.0,
    batches: Annotated[
        int, typer.Option("--batches", min=1, help="Extraction batches claimed per round.")
    ] = 16,
    entries: Annotated[
        int, typer.Option("--entries", min=1, help="Queued entries claimed per round.")
    ] = 64,
    consolidate: Annotated[
        bool,
        typer.Option("--consolidate/--no-consolidate", help="Also run sleep-time consolidation."),
    ] = True,
    once: Annotated[
        bool,
        typer.Option(
            "--once",
            help="Run one round that also closes every open segment (as flush does), then exit.",
        ),
    ] = False,
    journal: Annotated[
        Path | None,
        typer.Option("--journal", help="Append a JSON line per batch and decision applied."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Extract and consolidate for every owner, sharing the work with other workers."""
    st = state(ctx)
    wid = worker_id or default_worker_id()
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        # This process is the pipeline: no facade, no background thread.
        parts = assemble(st.store, st.config, worker={"enabled": False}, **st.overrides())
        try:
            if not parts.llm.available:
                warn(f"{parts.describe_llm()}; consolidation merges near-duplicates only")
            if isinstance(parts.store, ClaimingStore):
                note(f"worker {wid}: sharing the store's work with other workers (claims)")
            else:
                warn(
                    f"worker {wid}: this store has no claims; run only one worker on it "
                    "(a second one would repeat the same LLM calls)"
                )
            log = Journal(journal, wid) if journal is not None else None
            proc = WorkerProcess(
                Pipeline(parts),
                wid,
                batch_limit=batches,
                entry_limit=entries,
                consolidate=consolidate,
                journal=log,
            )
            try:
                total = proc.run(stop, poll_s=poll, once=once)
            finally:
                proc.close()
        finally:
            parts.close()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if as_json:
        emit_json({"worker": wid, **asdict(total)})
        return
    note(
        f"worker {wid}: {total.batches_done} batches extracted ({total.entries_created} "
        f"memories, {total.batches_failed} failed), {total.examined} entries consolidated "
        f"({total.decisions} decisions), {total.expired} expired"
    )
