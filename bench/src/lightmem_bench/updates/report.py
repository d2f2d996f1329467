"""The tables, the JSON document and the ``report.md`` part of ``lightmem bench updates``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lightmem_bench.console import Tables
from lightmem_bench.sections import table_lines, write_part


def tables(result: dict[str, Any]) -> Tables:
    head = [
        "cases",
        "filler",
        "n",
        "search: current first",
        "current in top 5",
        "stale only",
        "context: current",
        "context: stale only",
        "current, no unmarked stale",
        "right links",
        "filler links",
    ]
    rows = []
    for r in result["runs"]:
        n, s, c = r["n"], r["search"], r["context"]
        rows.append(
            [
                Path(r["cases"]).name,
                Path(r["filler"]).name,
                str(n),
                f"{s['current_first']}/{n}",
                f"{s['current_present']}/{n}",
                f"{s['stale_only']}/{n}",
                f"{c['current_present']}/{n}",
                f"{c['stale_only']}/{n}",
                f"{c['current_without_unmarked_stale']}/{n}",
                "-" if r["links"] is None else f"{r['links']['right']}/{n}",
                "-" if r["links"] is None else str(r["links"]["filler"]),
            ]
        )
    missed = [
        [Path(r["cases"]).name, Path(r["filler"]).name, ", ".join(_missed(r)) or "-"]
        for r in result["runs"]
    ]
    title = f"facts that changed: the question about now ({result['settings']['llm']} LLM)"
    missed_head = ["cases", "filler", "new keys"]
    return [
        (title, head, rows),
        ("cases whose current fact is not first in search", missed_head, missed),
    ]


def _missed(run: dict[str, Any]) -> list[str]:
    return [c["new_key"] for c in run["per_case"] if not c["current_first"]]


def markdown(result: dict[str, Any]) -> str:
    s, m = result["settings"], result["machine"]
    lines = [
        "## Facts that changed (`lightmem bench updates`)",
        "",
        f"- machine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}",
        f"- llm: {s['llm']}; embedder {json.dumps(s['embedder'])}",
        "- layout: one user over 12 weekly sessions of 40 real chat messages (the filler); "
        "each old statement in sessions 2-4, its update in sessions 8-11; sleep time; then "
        "the question about now: search top 5, context 500 tokens",
        "- right links: the old statement marked replaced by its update at sleep time; filler "
        "links: filler memories marked replaced by other filler (mostly false: the rule's "
        "precision); no-LLM mode only (an LLM rewrites the statements)",
        f"- command: `{s['command']}`",
    ]
    return "\n".join(lines + table_lines(tables(result))) + "\n"


def write_report(result: dict[str, Any], folder: Path) -> Path:
    """``updates.json`` and the updates part of ``report.md`` in ``folder``."""
    return write_part(folder, "updates", result, markdown(result))
