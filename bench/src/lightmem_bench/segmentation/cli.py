"""``lightmem bench segmentation``: boundary P/R/F1 of the topic segmenters.

Mounted by the main CLI as ``bench_app.command("segmentation")(segmentation)`` (or mount
:data:`segmentation_app` with ``add_typer``). As the other bench commands: the table goes to
stdout, progress to stderr, ``--json OUT`` writes the whole result. Errors are raised, never
printed: the CLI's ``main`` translates them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from lightmem.errors import InputError
from lightmem_bench.segmentation.run import run_segmentation_bench

DEFAULT_FILES = ("locomo-dev.json", "longmemeval-single.json")


def segmentation(
    locomo: Annotated[
        Path | None, typer.Option("--locomo", help="LoCoMo file (default: shared/data/).")
    ] = None,
    longmemeval: Annotated[
        Path | None,
        typer.Option("--longmemeval", help="LongMemEval file (default: shared/data/)."),
    ] = None,
    sessions: Annotated[
        int,
        typer.Option("--sessions", min=1, help="Sessions per conversation in the mixed stream."),
    ] = 8,
    tolerance: Annotated[
        int, typer.Option("--tolerance", min=0, help="Turns a boundary may be off by.")
    ] = 1,
    buffer_tokens: Annotated[
        int | None,
        typer.Option("--buffer-tokens", min=1, help="Segment through a sensory buffer this size."),
    ] = None,
    compression: Annotated[
        bool, typer.Option("--compression/--no-compression", help="Time the entropy compressor.")
    ] = True,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the full result here.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")] = False,
) -> None:
    """Topic segmentation against known session boundaries (session ids hidden)."""
    err = Console(stderr=True, highlight=False)

    def say(msg: str) -> None:
        if not quiet:
            err.print(msg, markup=False)

    result = run_segmentation_bench(
        locomo or _find(DEFAULT_FILES[0]),
        longmemeval or _find(DEFAULT_FILES[1]),
        max_sessions=sessions,
        tolerance=tolerance,
        buffer_tokens=buffer_tokens,
        compression=compression,
        progress=say,
    )
    console = Console(highlight=False)
    console.print(_table(result))
    if "compression" in result:
        console.print(f"entropy compression: {json.dumps(result['compression'])}", markup=False)
    for name, why in result.get("fallbacks", {}).items():
        console.print(f"{name}: {why}", markup=False)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


def _table(result: dict[str, Any]) -> Table:
    table = Table(title="topic boundaries (session ids hidden)", title_justify="left")
    for col in ("stream", "segmenter", "precision", "recall", "F1", "predicted", "true", "s"):
        table.add_column(col, justify="left" if col in ("stream", "segmenter") else "right")
    for name, stream in result["streams"].items():
        for seg, s in stream["scores"].items():
            table.add_row(
                name,
                seg,
                f"{s['precision']:.3f}",
                f"{s['recall']:.3f}",
                f"{s['f1']:.3f}",
                str(s["predicted"]),
                str(stream["true_boundaries"]),
                f"{s['seconds']:.1f}",
            )
    return table


def _find(name: str) -> Path:
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / "shared" / "data" / name
        if candidate.is_file():
            return candidate
    raise InputError(f"{name} not found under shared/data/; give its path with an option")


segmentation_app = typer.Typer(help="Topic segmentation benchmark.", add_completion=False)
segmentation_app.callback(invoke_without_command=True)(segmentation)
