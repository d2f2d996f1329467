"""``lightmem bench perf``: the SQLite store at 10k, 100k and 1M entries.

Mount :func:`perf` as a command (``bench_app.command("perf")(perf)``). Errors are raised,
never printed: the CLI's ``main`` translates them. Tables go to stdout, progress to stderr.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lightmem_bench.cli import usable_cache
from lightmem_bench.console import EmbedderOpt, JsonOutOpt, QuietOpt, print_tables, write_json
from lightmem_bench.perf.report import all_tables, write_report
from lightmem_bench.perf.run import embedder_section, parse_sizes, run_perf_bench


def perf(
    sizes: Annotated[
        str,
        typer.Option(
            "--sizes", help="Store sizes, comma-separated (k and m suffixes); none: skip."
        ),
    ] = "10k,100k,1m",
    json_out: JsonOutOpt = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write report.md (and perf.json) here.")
    ] = None,
    queries: Annotated[
        int, typer.Option("--queries", min=1, help="Questions per timed round.")
    ] = 200,
    rounds: Annotated[int, typer.Option("--rounds", min=1, help="Timed rounds per mode.")] = 3,
    embedder: EmbedderOpt = "minilm",
    embed_threads: Annotated[
        int, typer.Option("--embed-threads", min=0, help="MiniLM threads; 0: onnxruntime's.")
    ] = 1,
    unique_texts: Annotated[
        int, typer.Option("--unique-texts", min=100, help="Distinct texts embedded (cached).")
    ] = 40_000,
    ann_max_entries: Annotated[
        int | None,
        typer.Option("--ann-max-entries", min=1, help="Cap the one-owner ANN store's size."),
    ] = None,
    adds: Annotated[
        int, typer.Option("--adds", min=1, help="Single-turn add() calls timed per LLM mode.")
    ] = 300,
    store_option: Annotated[
        list[str] | None,
        typer.Option("--store-option", help="A SQLite store option KEY=JSON (repeatable)."),
    ] = None,
    cache: Annotated[
        Path | None,
        typer.Option("--cache", help="Vectors and stores (default: $LIGHTMEM_HOME/bench-cache)."),
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", help="Folder with the LoCoMo/LongMemEval files.")
    ] = None,
    llm_delay: Annotated[
        float,
        typer.Option("--llm-delay", min=0.0, help="Seconds per call of the slow scripted LLM."),
    ] = 1.0,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Build the stores again even if cached.")
    ] = False,
    quiet: QuietOpt = False,
    ann_scale: Annotated[
        str | None,
        typer.Option(
            "--ann-scale",
            help="Sizes of one-owner stores to reopen: first search, writes, recall (e.g. 1m).",
        ),
    ] = None,
    ann_writes: Annotated[
        int, typer.Option("--ann-writes", min=1, help="Writes timed per --ann-scale store.")
    ] = 200,
    throughput: Annotated[
        bool, typer.Option("--throughput/--no-throughput", help="Run the throughput part.")
    ] = True,
    scaleout: Annotated[
        bool,
        typer.Option(
            "--scaleout",
            help="Also run the PostgreSQL load test: 4 servers, 2 workers, 8 clients.",
        ),
    ] = False,
    scaleout_seconds: Annotated[
        float, typer.Option("--scaleout-seconds", min=1.0, help="Load test duration.")
    ] = 60.0,
    heavy_user: Annotated[
        str | None,
        typer.Option(
            "--heavy-user",
            help="One user with this many turns of real chat (e.g. 1k,10k,50k): adds, search "
            "and context through the public API and REST.",
        ),
    ] = None,
    noisy_tenant: Annotated[
        str | None,
        typer.Option(
            "--noisy-tenant",
            help="One tenant with this many memories (e.g. 10k,20k,40k) exports, searches and "
            "forgets on `lightmem serve` while another one's requests are timed.",
        ),
    ] = None,
    merge: Annotated[
        bool,
        typer.Option("--merge", help="Keep the other sections of an existing --json/--report."),
    ] = False,
) -> None:
    """Search latency (dense, BM25, hybrid) with a 1% user filter, ANN recall, add()
    latency, ingest and consolidation throughput, size on disk and memory. ``--scaleout``
    adds the multi-process PostgreSQL load test; ``--sizes none`` skips the SQLite sweep."""
    err = Console(stderr=True, highlight=False)
    options = {}
    for item in store_option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(
                f"expected KEY=VALUE, got {item!r}", param_hint="--store-option"
            )
        try:
            options[key] = json.loads(value)
        except json.JSONDecodeError:
            options[key] = value
    say = None if quiet else lambda msg: err.print(msg, markup=False, style="dim")
    sweep = sizes.strip().lower() != "none"
    if not sweep and not scaleout and not ann_scale and not heavy_user and not noisy_tenant:
        raise typer.BadParameter(
            "--sizes none runs nothing without --scaleout, --ann-scale, --heavy-user or "
            "--noisy-tenant"
        )
    result: dict[str, Any] = {}
    if sweep or ann_scale:
        result = run_perf_bench(
            parse_sizes(sizes) if sweep else (),
            queries=queries,
            rounds=rounds,
            embedder=embedder,
            embed_threads=embed_threads or None,
            unique_texts=unique_texts,
            store_options=options,
            ann_max_entries=ann_max_entries,
            adds=adds,
            data_dir=data,
            cache_dir=None if cache is None else usable_cache(cache),
            rebuild=rebuild,
            llm_delay_s=llm_delay,
            progress=say,
            ann_scale=parse_sizes(ann_scale) if ann_scale else (),
            ann_writes=ann_writes,
            throughput=throughput,
        )
    if scaleout:
        from lightmem_bench.perf.scaleout.run import run_scaleout

        emb = embedder_section(embedder, embed_threads or None)
        result["scaleout"] = run_scaleout(seconds=scaleout_seconds, embedder=emb, progress=say)
    if heavy_user:
        from lightmem_bench.perf.data import find_data_dir
        from lightmem_bench.perf.heavy import run_heavy_user

        result["heavy_user"] = run_heavy_user(
            parse_sizes(heavy_user),
            data=data or find_data_dir(),
            embedder=embedder_section(embedder, embed_threads or None),
            queries=min(queries, 100),
            progress=say,
        )
    if noisy_tenant:
        from lightmem_bench.perf.neighbour import run_noisy_tenant

        result["noisy_tenant"] = run_noisy_tenant(
            parse_sizes(noisy_tenant),
            embedder=embedder_section(embedder, None),  # as `serve` embeds by default
            progress=say,
        )
    if merge:
        for target in [json_out, report / "perf.json" if report is not None else None]:
            if target is not None and target.is_file():
                result = {**json.loads(target.read_text(encoding="utf-8")), **result}
    if json_out is not None:  # written first: a long run's figures outlive any table
        write_json(json_out, result)
    if report is not None:
        write_report(result, report)
    print_tables(all_tables(result))


perf_app = typer.Typer(help="SQLite store performance benchmark.", add_completion=False)
perf_app.callback(invoke_without_command=True)(perf)
