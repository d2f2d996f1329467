"""What the bench commands share at their edge: their common options, their tables on the
terminal, and their JSON document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

Tables = list[tuple[str, list[str], list[list[str]]]]  # title, header, rows

EmbedderOpt = Annotated[
    str, typer.Option("--embedder", help="minilm, or hash (no model, for a quick check).")
]
JsonOutOpt = Annotated[Path | None, typer.Option("--json", help="Write the full result here.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress on stderr.")]


def print_tables(tables: Tables, left_columns: int = 2) -> None:
    """Each table on stdout: its first ``left_columns`` columns left-aligned, the figures
    right-aligned; 200 columns wide when stdout is not a terminal."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    for title, head, rows in tables:
        table = Table(title=title, title_justify="left")
        for i, h in enumerate(head):
            table.add_column(h, justify="left" if i < left_columns else "right")
        for row in rows:
            table.add_row(*row)
        console.print(table)


def write_json(path: Path, result: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
