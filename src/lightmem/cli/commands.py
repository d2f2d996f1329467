"""Writing, searching and accounting: ``add``, ``flush``, ``search``, ``consolidate``,
``stats``, ``export`` and ``import``. Errors are raised, never printed: ``main`` translates
them in one place."""

from __future__ import annotations

import os
import sys
from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from lightmem.cli import render
from lightmem.cli.inputs import STDIN, by_user, parse_jsonl, parse_messages, read_source
from lightmem.cli.state import (
    AgentOpt,
    JsonOpt,
    UserOpt,
    emit_json,
    need_scope,
    note,
    out,
    state,
    warn,
    warn_batches,
)
from lightmem.errors import InputError
from lightmem.memory import Memory
from lightmem.types import AddResult, Usage


class Mode(StrEnum):
    dense = "dense"
    bm25 = "bm25"
    hybrid = "hybrid"
    hierarchical = "hierarchical"


def add(
    ctx: typer.Context,
    source: Annotated[
        str, typer.Argument(metavar="[FILE|-]", help="Messages file, or - for stdin.")
    ] = STDIN,
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: Annotated[str | None, typer.Option("--session", "-s", help="Session id.")] = None,
    timestamp: Annotated[
        str | None,
        typer.Option("--timestamp", "-t", help="Time of messages that carry none (ISO 8601)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Add messages: a JSON list, one JSON object, or JSON Lines, from a file or stdin (a
    message's user_id, as in `ingest --format jsonl`, names its user)."""
    if source == STDIN and sys.stdin.isatty():
        note("reading messages from stdin (end with Ctrl-D)")
    text, name = read_source(source)
    groups = by_user(parse_messages(text, name), user, name)
    if None in groups and agent is None:
        raise InputError("give --user USER (or a user_id on every message) and/or --agent AGENT")
    result = AddResult(turn_ids=[])
    with state(ctx).open(warm="queries") as mem:  # a message or a few (more load on demand)
        for owner, messages in groups.items():
            done = mem.add(
                messages, user_id=owner, agent_id=agent, session_id=session, timestamp=timestamp
            )
            result.turn_ids += done.turn_ids
            result.entries_created += done.entries_created
            result.failed_batches += done.failed_batches
            result.waiting_batches += done.waiting_batches
            result.deferred = result.deferred or done.deferred
        mode = mem.describe_llm()
    if as_json:
        emit_json(asdict(result))
        return
    for turn_id in result.turn_ids:
        out().print(turn_id)
    note(f"{len(result.turn_ids)} turn(s) stored ({mode})")  # stderr: stdout is the ids
    warn_batches(result.failed_batches, result.waiting_batches)


def flush(
    ctx: typer.Context, user: UserOpt = None, agent: AgentOpt = None, as_json: JsonOpt = False
) -> None:
    """Segment and extract every buffered turn now (of one user/agent, or of all). Exits 1
    when a batch failed or waits for the LLM endpoint (its turns stay buffered)."""
    with state(ctx).open(existing=True) as mem:
        result = mem.flush(user_id=user, agent_id=agent)
    if as_json:
        emit_json(asdict(result))
    else:
        line = f"{result.entries_created} entries created from {result.batches_done} batches"
        if result.waiting_batches:  # why was logged once, when the endpoint was found down
            line += f"; {len(result.waiting_batches)} batches wait for the LLM endpoint"
        out().print(line)
        warn_batches(result.failed_batches)
    if result.failed_batches or result.waiting_batches:
        raise typer.Exit(1)  # a script (a cron job) sees that extraction did not happen


SessionOpt = Annotated[
    str | None, typer.Option("--session", "-s", help="Only this session (run id).")
]
ModeOpt = Annotated[Mode | None, typer.Option("--mode", help="Default: from config.")]
SinceOpt = Annotated[str | None, typer.Option("--since", help="Items at or after this time.")]
UntilOpt = Annotated[str | None, typer.Option("--until", help="Items at or before this time.")]


def _query_scope(
    user: str | None,
    agent: str | None,
    session: str | None,
    mode: Mode | None,
    since: str | None,
    until: str | None,
) -> dict[str, Any]:
    """The scope, mode and time range of a search or context command, as keyword arguments."""
    need_scope(user, agent)
    return {
        "user_id": user,
        "agent_id": agent,
        "run_id": session,
        "mode": mode.value if mode is not None else None,
        "time_range": (since, until) if since is not None or until is not None else None,
    }


def search(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="What to look for.")],
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: SessionOpt = None,
    limit: Annotated[
        int | None, typer.Option("-k", "--limit", min=1, help="How many memories.")
    ] = None,
    mode: ModeOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the memories of one user/agent: a table of rank, score, text, time, sources."""
    where = _query_scope(user, agent, session, mode, since, until)
    with state(ctx).open(
        existing=True, warm="queries" if mode != "bm25" else False
    ) as mem:  # BM25: no vector
        hits = mem.search(query, limit=limit, **where)
    if as_json:
        emit_json([render.hit_json(h) for h in hits])
    elif hits:
        out().print(render.hits_table(hits))
    else:
        note("no memories found")


def context(
    ctx: typer.Context,
    query: Annotated[str, typer.Argument(help="The question or message about to be answered.")],
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: SessionOpt = None,
    budget: Annotated[
        int | None,
        typer.Option("--budget", min=1, help="Token budget (cl100k). Default: from config."),
    ] = None,
    mode: ModeOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    hierarchical: Annotated[
        bool,
        typer.Option("--hierarchical", help="Sessions first: their summaries lead the block."),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The prompt-ready block an app puts before its reply: memories in time order, then
    the evidence turns, packed into a token budget."""
    where = _query_scope(user, agent, session, mode, since, until)
    with state(ctx).open(existing=True, warm="queries") as mem:
        block = mem.context(query, budget_tokens=budget, hierarchical=hierarchical or None, **where)
    if as_json:
        emit_json(render.context_json(block))
    elif block.items:
        out().print(Text(block.text))
        note(f"{block.tokens} of {block.budget_tokens} tokens, {len(block.items)} items")
    else:
        note("nothing remembered for this query")


def consolidate(
    ctx: typer.Context, user: UserOpt = None, agent: AgentOpt = None, as_json: JsonOpt = False
) -> None:
    """Resolve newer memories against similar older ones (update, delete, merge)."""
    with state(ctx).open(existing=True) as mem:
        result = mem.consolidate(user_id=user, agent_id=agent)
    if as_json:
        emit_json(asdict(result))
        return
    out().print(
        f"examined {result.examined}, updated {result.updated}, deleted {result.deleted}, "
        f"merged {result.merged}, ignored {result.ignored}, expired {result.expired}, "
        f"failed {len(result.failed)}; session summaries {result.summaries}"
    )
    if result.failed_summaries:
        n = len(result.failed_summaries)
        warn(f"{n} session summaries failed; the next consolidate retries them")
    if result.failed:
        warn(f"{len(result.failed)} decisions failed; the next consolidate retries them")


def stats(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Entry counts per scope, buffered turns, batches, repaired sources, recent failures
    and LLM usage by stage."""
    with state(ctx).open(existing=True) as mem:
        usage = mem.usage()
        data = stats_json(mem, usage)
    if as_json:
        emit_json(data)
        return
    console = out()
    console.print(f"store: {data['store']}", markup=False)
    console.print(f"LLM mode: {data['llm_mode']} ({data['llm_description']})", markup=False)
    extraction = data["extraction"]
    if extraction["state"] == "unreachable":
        since = extraction["since"] or "?"
        console.print(f"LLM endpoint: unreachable since {since}", style="yellow", markup=False)
        console.print(Text(extraction["message"] or ""), style="yellow")
    console.print(data["embedder_description"], markup=False)
    table = Table(title="Entries by scope")
    for name in ("user_id", "agent_id", "active", "deleted"):
        table.add_column(name, justify="right" if name in ("active", "deleted") else "left")
    for row in data["scopes"]:
        table.add_row(
            Text(row["user_id"] or "-"),
            Text(row["agent_id"] or "-"),
            str(row["active"]),
            str(row["deleted"]),
        )
    console.print(table)
    for key in (
        "buffered_turns",
        "pending_batches",
        "failed_batches",
        "invalid_sources",
        "repaired_sources",
    ):
        console.print(f"{key.replace('_', ' ')}: {data[key]}")
    console.print(render.failures_table(usage.failures))
    console.print(render.usage_table(usage))
    if usage.timings:
        console.print(render.timings_table(usage.timings))


def stats_json(mem: Memory, usage: Usage) -> dict[str, Any]:
    scopes = []
    for scope in mem.scopes():
        active, deleted = mem.count(user_id=scope.user_id, agent_id=scope.agent_id)
        row = {"user_id": scope.user_id, "agent_id": scope.agent_id}
        scopes.append({**row, "active": active, "deleted": deleted})
    return {
        "store": str(mem.path),
        "llm_mode": mem.llm_mode,
        "llm_description": mem.describe_llm(),
        "extraction": render.llm_status_json(mem.llm_status()),
        "embedder": mem.embedder.model_id,
        "embedder_description": mem.describe_embedder(),
        "scopes": scopes,
        "entries": sum(s["active"] for s in scopes),
        "buffered_turns": usage.buffered_turns,
        "pending_batches": usage.pending_batches,
        "failed_batches": usage.failed_batches,
        "invalid_sources": usage.invalid_sources,
        "repaired_sources": usage.repaired_sources,
        "failures": [render.failure_json(f) for f in usage.failures],
        "llm": render.usage_json(usage),
        "timings": dict(usage.timings),
    }


def export(
    ctx: typer.Context,
    user: UserOpt = None,
    agent: AgentOpt = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")
    ] = None,
) -> None:
    """Write the store (or one user/agent) as JSON Lines records, vectors included."""
    with state(ctx).open(existing=True) as mem:
        records = mem.export(user_id=user, agent_id=agent)
        if output is None or str(output) == STDIN:
            n = _write_jsonl(records, sys.stdout)
        else:
            tmp = output.with_name(output.name + ".tmp")
            try:
                with tmp.open("w", encoding="utf-8") as fh:
                    n = _write_jsonl(records, fh)
                os.replace(tmp, output)
            except OSError as exc:
                raise InputError(f"{output}: cannot be written ({exc.strerror})") from None
            finally:
                tmp.unlink(missing_ok=True)
    note(f"exported {n} records" + (f" to {output}" if output is not None else ""))


def import_(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(metavar="FILE|-", help="JSON Lines from export.")],
    as_json: JsonOpt = False,
) -> None:
    """Import records written by `lightmem export` (all or nothing; ids must be new)."""
    text, name = read_source(source)
    records = parse_jsonl(text, name, what="record")
    with state(ctx).open() as mem:
        n = mem.import_records(records)
    if as_json:
        emit_json({"imported": n})
    else:
        out().print(f"imported {n} records")


def _write_jsonl(records: Any, fh: Any) -> int:
    n = 0
    for record in records:
        fh.write(render.json_text(record) + "\n")
        n += 1
    fh.flush()
    return n
