"""``lightmem bench proxy``: mount :func:`proxy` as a command. Errors are raised, never
printed; tables go to stdout, progress to stderr."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lightmem.datasets import load_locomo
from lightmem_bench.console import EmbedderOpt, JsonOutOpt, QuietOpt, print_tables, write_json
from lightmem_bench.perf.run import embedder_section
from lightmem_bench.perf.stats import load_average, machine
from lightmem_bench.proxy.replay import Settings, replay
from lightmem_bench.proxy.report import summarize, tables, write_report

DEFAULT_DATA = Path("../shared/data/locomo-dev.json")


def proxy(
    data: Annotated[
        Path,
        typer.Option("--data", help="A LoCoMo file (default: ../shared/data/locomo-dev.json)."),
    ] = DEFAULT_DATA,
    sample: Annotated[
        str | None, typer.Option("--sample", help="The conversation (default: the first).")
    ] = None,
    budget_tokens: Annotated[
        int, typer.Option("--budget-tokens", min=50, help="proxy.budget_tokens")
    ] = 800,
    history_turns: Annotated[
        int, typer.Option("--history-turns", min=0, help="proxy.history_turns (0: all)")
    ] = 8,
    query_turns: Annotated[int, typer.Option("--query-turns", min=1, help="proxy.query_turns")] = 3,
    embedder: EmbedderOpt = "minilm",
    max_requests: Annotated[
        int | None, typer.Option("--max-requests", min=1, help="Stop after this many requests.")
    ] = None,
    json_out: JsonOutOpt = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write proxy.json and the proxy part of report.md here."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Replay a LoCoMo conversation through `lightmem proxy` (an app resending its whole
    history, a fake upstream): tokens upstream vs the full history, the proxy's overhead
    over a direct call, and the stable part's reuse from request to request."""
    err = Console(stderr=True, highlight=False)
    dataset = load_locomo(data, None if sample is None else [sample])
    conv = dataset.conversations[0]
    settings = Settings(
        budget_tokens=budget_tokens,
        history_turns=history_turns,
        query_turns=query_turns,
        embedder=embedder_section(embedder, 1 if embedder == "minilm" else None),
        max_requests=max_requests,
    )
    result: dict[str, Any] = {"machine": machine()}
    say = None if quiet else lambda msg: err.print(msg, markup=False, style="dim")
    rows, model = replay(conv, settings, progress=say)
    result["machine"]["load_average_end"] = load_average()
    result["settings"] = {
        "data": str(data),
        "sha256": dataset.sha256,
        "sample": conv.sample_id,
        "sessions": len({r["session"] for r in rows}),
        "budget_tokens": budget_tokens,
        "history_turns": history_turns,
        "query_turns": query_turns,
        "embedder": settings.embedder,
        "embedder_model": model,
        "command": "lightmem bench proxy " + shlex.join(sys.argv[3:] if len(sys.argv) > 3 else []),
    }
    result.update(summarize(rows))
    result["requests"] = rows
    print_tables(tables(result), left_columns=0)
    if json_out is not None:
        write_json(json_out, result)
    if report is not None:
        write_report(result, report)
