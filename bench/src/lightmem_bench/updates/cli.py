"""``lightmem bench updates``: mount :func:`updates` as a command. Errors are raised, never
printed; tables go to stdout, progress to stderr."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lightmem_bench.console import EmbedderOpt, JsonOutOpt, QuietOpt, print_tables, write_json
from lightmem_bench.perf.run import embedder_section
from lightmem_bench.perf.stats import machine
from lightmem_bench.updates.report import tables, write_report
from lightmem_bench.updates.run import load_cases, load_filler, measure

DEFAULT_CASES = [
    Path("../shared/data/knowledge-updates-dev.json"),
    Path("bench/data/knowledge-updates-extra.json"),
    Path("bench/data/knowledge-updates-heldout.json"),
    Path("bench/data/knowledge-updates-heldout-2.json"),
    Path("bench/data/knowledge-updates-heldout-3.json"),
    Path("bench/data/knowledge-updates-heldout-4.json"),
    Path("bench/data/knowledge-updates-heldout-5.json"),
]
DEFAULT_FILLER = [Path("../shared/data/realtalk-dev.json"), Path("../shared/data/locomo-dev.json")]


def updates(
    cases: Annotated[
        list[Path] | None,
        typer.Option(
            "--cases",
            help="A JSON list of [old, new, question, old key, new key] (repeatable; default: "
            "the shared dev cases, bench/data/knowledge-updates-extra.json, "
            "knowledge-updates-heldout.json and -heldout-2 to -5).",
        ),
    ] = None,
    filler: Annotated[
        list[Path] | None,
        typer.Option(
            "--filler",
            help="A LoCoMo-layout file whose chat fills the sessions (repeatable; default: "
            "REALTALK dev and LoCoMo dev).",
        ),
    ] = None,
    llm: Annotated[str, typer.Option("--llm", help="The LLM provider (none: no-LLM mode).")] = (
        "none"
    ),
    embedder: EmbedderOpt = "minilm",
    json_out: JsonOutOpt = None,
    report: Annotated[
        Path | None,
        typer.Option("--report", help="Write updates.json and the updates part of report.md here."),
    ] = None,
    quiet: QuietOpt = False,
) -> None:
    """Facts that change: each case's old statement early in a long chat, its update weeks
    later; after sleep time, does search (top 5) and context (500 tokens) give the current
    one first, and did sleep time mark the old one replaced?"""
    err = Console(stderr=True, highlight=False)
    case_files = cases or DEFAULT_CASES
    filler_files = filler or DEFAULT_FILLER
    loaded = [(p, load_cases(p)) for p in case_files]
    texts = [(p, load_filler(p)) for p in filler_files]
    section = embedder_section(embedder, None)
    config = {"embedder": section, "llm": {"provider": llm}}
    say = None if quiet else lambda msg: err.print(msg, markup=False, style="dim")
    runs = []
    for case_path, case_list in loaded:
        for filler_path, filler_texts in texts:
            if say:
                say(f"{case_path.name} over {filler_path.name}")
            run = measure(case_list, filler_texts, config, say)
            runs.append({"cases": str(case_path), "filler": str(filler_path), **run})
    result: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "llm": llm,
            "embedder": section,
            "command": "lightmem bench updates " + shlex.join(sys.argv[3:]),
        },
        "runs": runs,
    }
    if json_out is not None:
        write_json(json_out, result)
    if report is not None:
        write_report(result, report)
    print_tables(tables(result))
