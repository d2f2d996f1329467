"""The CLI's stable JSON shapes (documented in ``docs/cli-json.md``) and its rich tables.

Times are ISO 8601 strings in naive UTC (``"2023-05-08T13:56:00"``) or ``null``. User text
goes into tables as :class:`rich.text.Text`, so brackets in it are never read as markup, and
every console the CLI prints through escapes what a terminal would act on
(:class:`EscapeControls`), so tenant text never sets a window title or clears the screen.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import asdict
from typing import Any

from rich.console import Console, ConsoleOptions, RenderableType, RenderHook, RenderResult
from rich.segment import Segment
from rich.table import Table
from rich.text import Span, Text

from lightmem.llm.circuit import LLMStatus
from lightmem.retrieval.context import Context
from lightmem.timeutil import format_timestamp
from lightmem.types import Entry, Failure, HistoryRecord, Hit, Scope, StageUsage, Turn, Usage

#: What a terminal acts on instead of showing: C0 controls but newline and tab, DEL, C1
#: controls (0x9b is a CSI on its own), and the bidirectional controls that reorder text.
_TERMINAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
#: In JSON output only these need it: json.dumps already escapes the C0 controls.
_JSON_RAW = re.compile("[\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def escape_controls(text: str) -> str:
    """``text`` with every terminal control shown as its escape (``"\\x1b"``)."""
    return _TERMINAL.sub(lambda m: ascii(m.group())[1:-1], text)


def json_text(data: Any, indent: int | None = None) -> str:
    """``data`` as JSON (non-ASCII kept) with the controls a terminal would act on written
    as ``\\u`` escapes: the same JSON value, safe to print."""
    text = json.dumps(data, ensure_ascii=False, indent=indent)
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def escaped_text(text: Text) -> Text:
    """A copy of ``text`` with its terminal controls escaped, its styles kept in place."""
    plain = text.plain
    if not _TERMINAL.search(plain):
        return text
    pieces = [escape_controls(c) for c in plain]
    at = [0]
    for piece in pieces:
        at.append(at[-1] + len(piece))
    out = text.copy()
    out.plain = "".join(pieces)
    out.spans = [Span(at[s.start], at[min(s.end, len(plain))], s.style) for s in text.spans]
    return out


def _escaped(item: Any) -> Any:
    """Text, strings and the cells of tables escaped before layout, so widths stay right."""
    if isinstance(item, Text):
        return escaped_text(item)
    if isinstance(item, str):
        return escape_controls(item)
    if isinstance(item, Table):
        item.title = _escaped(item.title)
        for column in item.columns:
            column._cells = [_escaped(c) for c in column._cells]  # rich keeps no other handle
    return item


class _Escaped:
    """Whatever else a renderable holds, its text segments escaped after layout (the
    console's own control segments, the cursor moves of a progress display, are kept)."""

    def __init__(self, inner: RenderableType) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for seg in console.render(self.inner, options):
            yield seg if seg.control else Segment(escape_controls(seg.text), seg.style)


class EscapeControls(RenderHook):
    """A rich render hook: the one place the CLI's output is made safe for a terminal."""

    def process_renderables(self, renderables: Iterable[RenderableType]) -> list[Any]:
        return [_Escaped(_escaped(r)) for r in renderables]


def scope_json(scope: Scope) -> dict[str, str | None]:
    return {"user_id": scope.user_id, "agent_id": scope.agent_id, "run_id": scope.run_id}


def turn_json(turn: Turn) -> dict[str, Any]:
    return {
        "id": turn.id,
        "ref": turn.ref,
        "speaker": turn.speaker,
        "role": turn.role,
        "content": turn.content,
        "timestamp": format_timestamp(turn.timestamp),
        "session_id": turn.session_id,
    }


def entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "text": entry.text,
        "status": entry.status.value,
        "version": entry.version,
        "timestamp": format_timestamp(entry.timestamp),
        **scope_json(entry.scope),
        "sources": list(entry.sources),
        "speakers": list(entry.speakers),
        "keywords": list(entry.keywords),
        "topic_id": entry.topic_id,
        "origin": entry.origin,
        "created_at": format_timestamp(entry.created_at),
        "updated_at": format_timestamp(entry.updated_at),
        "pinned": entry.pinned,
        "expires_at": format_timestamp(entry.expires_at),
        "memory_kind": entry.kind,
        "meta": entry.meta,
        "images": [{"url": i.url, "caption": i.caption} for i in entry.images],
        "valid_from": format_timestamp(entry.valid_from),
        "valid_until": format_timestamp(entry.valid_until),
        "superseded_by": entry.superseded_by,
    }


def chain_table(chain: list[Entry], asked: str) -> Table:
    """The memories of a fact that changed, oldest first, each with its validity (days)."""
    table = Table()
    table.add_column("")
    table.add_column("id", no_wrap=True)
    table.add_column("valid", no_wrap=True)
    table.add_column("text", ratio=1)
    for e in chain:
        since = e.valid_from.strftime("%Y-%m-%d") if e.valid_from else "?"
        until = "now"
        if e.superseded_by is not None:
            until = e.valid_until.strftime("%Y-%m-%d") if e.valid_until else "?"
        table.add_row(
            "→" if e.id == asked else "",
            e.id,
            f"{since} .. {until}",
            Text(e.text, style="strike" if e.superseded_by else ""),
        )
    return table


def hit_json(hit: Hit) -> dict[str, Any]:
    return {
        "kind": hit.kind,
        "id": hit.id,
        "text": hit.text,
        "score": hit.score,
        "relevance": hit.relevance,
        "timestamp": format_timestamp(hit.timestamp),
        **scope_json(hit.scope),
        "sources": [turn_json(t) for t in hit.sources],
        "memory_kind": hit.entry.kind if hit.entry is not None else None,
        # as REST's hits: a replaced memory says so, and by which one, until when
        "superseded_by": hit.entry.superseded_by if hit.entry is not None else None,
        "valid_until": format_timestamp(hit.entry.valid_until) if hit.entry is not None else None,
        "facts": [entry_json(f) for f in hit.facts],
        "session": entry_json(hit.session) if hit.session is not None else None,
    }


def context_json(block: Context) -> dict[str, Any]:
    return {
        "text": block.text,
        "tokens": block.tokens,
        "budget_tokens": block.budget_tokens,
        "items": [hit_json(h) for h in block.items],
        "supersedes": {str(k): v for k, v in sorted(block.supersedes.items())},
    }


def history_json(record: HistoryRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "entry_id": record.entry_id,
        "event": record.event.value,
        "old_text": record.old_text,
        "new_text": record.new_text,
        "reason": record.reason,
        "actor": record.actor,
        "created_at": format_timestamp(record.created_at),
    }


def stage_json(stage: StageUsage) -> dict[str, Any]:
    return asdict(stage)


def usage_json(usage: Usage) -> dict[str, Any]:
    return {
        "stages": {name: stage_json(s) for name, s in sorted(usage.stages.items())},
        "total": stage_json(usage.total),
    }


def llm_status_json(status: LLMStatus) -> dict[str, Any]:
    return {
        "state": status.state,
        "message": status.message,
        "since": format_timestamp(status.since),
        "retry_at": format_timestamp(status.retry_at),
    }


def failure_json(failure: Failure) -> dict[str, Any]:
    return {
        "where": failure.where,
        "ref": failure.ref,
        "at": format_timestamp(failure.at),
        "attempts": failure.attempts,
        "message": failure.message,
    }


def source_label(turn: Turn) -> str:
    """How a source turn is named to people: the dataset's own ref if set, else its id."""
    return turn.ref or turn.id


# -- tables -----------------------------------------------------------------------------------
def hits_table(hits: list[Hit]) -> Table:
    """Rank, score, memory text, time and source refs."""
    table = Table()
    table.add_column("#", justify="right")
    table.add_column("score", justify="right")
    table.add_column("memory", ratio=3)
    table.add_column("time")
    table.add_column("sources", ratio=1, overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        table.add_row(
            str(rank),
            f"{hit.score:.4f}",
            Text(_hit_text(hit)),
            format_timestamp(hit.timestamp) or "-",
            Text(", ".join(source_label(t) for t in hit.sources) or "-"),
        )
    return table


def _hit_text(hit: Hit) -> str:
    if hit.kind != "memory":
        return f"(turn) {hit.text}"
    entry = hit.entry
    if entry is not None and entry.superseded_by is not None:
        return f"(replaced) {hit.text}"
    return hit.text


def hits_list(hits: list[Hit], gold: set[str]) -> Text:
    """Each hit with its source turns (ref, speaker, text); a gold ref gets a green ✓."""
    text = Text()
    for rank, hit in enumerate(hits, start=1):
        text.append(f"  {rank}. ", style="bold")
        text.append(f"[{hit.score:.4f}] ", style="dim")
        text.append("(turn) " if hit.kind == "turn" else "", style="dim")
        text.append(_clip(hit.text, 300))
        when = format_timestamp(hit.timestamp)
        text.append(f"  ({when})\n" if when else "\n", style="dim")
        for turn in hit.sources:
            is_gold = turn.ref is not None and turn.ref in gold
            text.append("       ↳ ")
            text.append(source_label(turn), style="bold green" if is_gold else "bold")
            text.append(" ✓" if is_gold else "", style="bold green")
            text.append(f" {turn.label}: {_clip(turn.content, 160)}\n")
    text.rstrip()
    return text


def entries_table(entries: list[Entry], *, show_status: bool = False) -> Table:
    table = Table()
    table.add_column("id", overflow="fold")
    table.add_column("time")
    table.add_column("memory", ratio=1)
    if show_status:
        table.add_column("status")
    for entry in entries:
        row: list[str | Text] = [
            entry.id,
            format_timestamp(entry.timestamp) or "-",
            Text(entry.text),
        ]
        if show_status:
            row.append(entry.status.value)
        table.add_row(*row)
    return table


def entry_table(entry: Entry, sources: list[Turn]) -> Table:
    """One entry, field by field, with its source turns."""
    table = Table(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", ratio=1)
    data = entry_json(entry)
    data.pop("sources")
    data["images"] = [f"{i.caption} <{i.url}>" if i.caption else i.url for i in entry.images]
    for key, value in data.items():
        if isinstance(value, list):
            value = ", ".join(value)
        table.add_row(key, Text("-" if value in (None, "") else str(value)))
    for turn in sources:
        table.add_row(
            "source", Text(f"{source_label(turn)} {turn.label}: {_clip(turn.content, 200)}")
        )
    return table


def history_table(records: list[HistoryRecord]) -> Table:
    table = Table()
    table.add_column("when")
    table.add_column("event")
    table.add_column("by")
    table.add_column("text", ratio=1)
    table.add_column("reason")
    for r in records:
        if r.old_text is not None and r.new_text is not None and r.old_text != r.new_text:
            text = Text(r.old_text, style="strike")
            text.append(" → ")
            text.append(r.new_text)
        else:
            text = Text(r.new_text or r.old_text or "")
        table.add_row(
            format_timestamp(r.created_at) or "-",
            r.event.value,
            r.actor,
            text,
            Text(r.reason or ""),
        )
    return table


def usage_table(usage: Usage, title: str = "LLM usage by stage") -> Table | Text:
    if not usage.stages:
        return Text("LLM calls: none")
    table = Table(title=title)
    for name in ("stage", "calls", "failed", "tokens in", "tokens out", "seconds"):
        table.add_column(name, justify="left" if name == "stage" else "right")
    rows = sorted(usage.stages.items())
    if len(rows) != 1:
        rows.append(("total", usage.total))
    for name, s in rows:
        table.add_row(
            name,
            str(s.calls),
            str(s.failed_calls),
            str(s.tokens_in),
            str(s.tokens_out),
            f"{s.seconds:.2f}",
        )
    return table


def failures_table(failures: list[Failure], title: str = "Recent failures") -> Table | Text:
    """Newest first: when, where (batch or entry id), attempts of a still-failed batch, and
    the message (providers' and validators' text, scrubbed of user text)."""
    if not failures:
        return Text("recent failures: none")
    table = Table(title=title)
    for name in ("when", "where", "ref", "attempts", "message"):
        table.add_column(name, overflow="fold", ratio=3 if name == "message" else None)
    for f in failures:
        table.add_row(
            format_timestamp(f.at) or "-",
            f.where,
            f.ref or "-",
            "-" if f.attempts is None else str(f.attempts),
            Text(f.message),
        )
    return table


def timings_table(timings: dict[str, float], title: str = "Timings (seconds)") -> Table:
    table = Table(title=title)
    table.add_column("stage")
    table.add_column("seconds", justify="right")
    for name, seconds in timings.items():
        table.add_row(name, f"{seconds:.2f}")
    return table


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
