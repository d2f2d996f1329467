"""Several benches in one ``report.md``: a bench writes its part between two markers, and a
bench that rewrites the whole file keeps the other benches' parts."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from lightmem_bench.console import Tables

_SECTION = re.compile(r"<!-- bench (\S+) -->\n.*?<!-- /bench \1 -->\n", re.S)


def marked(name: str, text: str) -> str:
    return f"<!-- bench {name} -->\n{text.rstrip()}\n<!-- /bench {name} -->\n"


def write_section(path: Path, name: str, text: str) -> None:
    """Put ``text`` into ``path`` as the part ``name``: in place of the old one, else at the
    end; the rest of the file is kept."""
    old = path.read_text(encoding="utf-8") if path.is_file() else ""
    block = marked(name, text)
    parts = {m.group(1): m for m in _SECTION.finditer(old)}
    if name in parts:
        m = parts[name]
        new = old[: m.start()] + block + old[m.end() :]
    else:
        new = (old.rstrip() + "\n\n" if old.strip() else "") + block
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new, encoding="utf-8")


def kept_sections(path: Path) -> str:
    """The marked parts of ``path`` (to append after rewriting the rest), or ``""``."""
    if not path.is_file():
        return ""
    found = [m.group(0) for m in _SECTION.finditer(path.read_text(encoding="utf-8"))]
    return "\n" + "\n".join(found) if found else ""


def table_lines(tables: Tables) -> list[str]:
    """``tables`` as markdown: a ``###`` title, then the table, for each."""
    lines: list[str] = []
    for title, head, rows in tables:
        lines += ["", f"### {title}", "", "| " + " | ".join(head) + " |"]
        lines.append("|" + "---|" * len(head))
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    return lines


def write_part(folder: Path, name: str, result: dict[str, Any], text: str) -> Path:
    """``<name>.json`` (``result``) and the part ``name`` of ``report.md`` (``text``) in
    ``folder``; the report's path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    path = folder / "report.md"
    write_section(path, name, text)
    return path
