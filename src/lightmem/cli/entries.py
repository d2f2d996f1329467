"""One memory at a time: ``list``, ``get``, ``update``, ``delete``, ``history``, and the
validity of a fact that changed: ``supersede`` and ``chain``."""

from __future__ import annotations

from typing import Annotated

import typer

from lightmem.cli import render
from lightmem.cli.state import AgentOpt, JsonOpt, UserOpt, emit_json, need_scope, note, out, state
from lightmem.errors import InputError
from lightmem.types import EntryStatus, TurnStage

IdArg = Annotated[str, typer.Argument(metavar="ID", help="Memory id.")]
ReasonOpt = Annotated[str | None, typer.Option("--reason", help="Why (kept in the history).")]


def list_(
    ctx: typer.Context,
    user: UserOpt = None,
    agent: AgentOpt = None,
    session: Annotated[
        str | None, typer.Option("--session", "-s", help="Only this session (run id).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1)] = None,
    include_deleted: Annotated[
        bool, typer.Option("--all", help="Include deleted memories (tombstones).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """List the memories of one user/agent, oldest first."""
    need_scope(user, agent)
    with state(ctx).open(existing=True) as mem:
        entries = mem.get_all(
            user_id=user,
            agent_id=agent,
            run_id=session,
            limit=limit,
            include_deleted=include_deleted,
        )
        waiting = 0
        if not entries and not as_json:  # the scope's own turns still in the pipeline
            turns = mem.turns(user_id=user, agent_id=agent, session_id=session)
            waiting = sum(1 for t in turns if t.stage != TurnStage.EXTRACTED)
    if as_json:
        emit_json([render.entry_json(e) for e in entries])
    elif entries:
        out().print(render.entries_table(entries, show_status=include_deleted))
    elif waiting:  # an import's turns wait for the buffer to fill
        note(
            f"no memories yet; {waiting} of its turns are buffered: "
            "`lightmem flush` extracts them now"
        )
    else:
        note("no memories")


def get(
    ctx: typer.Context,
    memory_id: IdArg,
    user: UserOpt = None,
    agent: AgentOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one memory (deleted ones too) with its source turns."""
    with state(ctx).open(existing=True) as mem:
        entry = mem.get(memory_id, user_id=user, agent_id=agent)
        sources = [] if as_json else mem.sources(entry.id)
    if as_json:
        emit_json(render.entry_json(entry))
    else:
        out().print(render.entry_table(entry, sources))


def update(
    ctx: typer.Context,
    memory_id: IdArg,
    text: Annotated[str, typer.Argument(help="The new text.")],
    reason: ReasonOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Replace the text of a memory (the old text stays in its history)."""
    with state(ctx).open(existing=True) as mem:
        entry = mem.update(memory_id, text, reason=reason)
    if as_json:
        emit_json(render.entry_json(entry))
    else:
        out().print(f"updated {entry.id} (version {entry.version})")


def delete(
    ctx: typer.Context, memory_id: IdArg, reason: ReasonOpt = None, as_json: JsonOpt = False
) -> None:
    """Delete a memory (a tombstone: it keeps its history, search never returns it)."""
    with state(ctx).open(existing=True) as mem:
        already = mem.get(memory_id).status == EntryStatus.DELETED
        if not already:
            mem.delete(memory_id, reason=reason)
    if as_json:
        emit_json({"id": memory_id, "deleted": True})
    else:
        out().print(f"{memory_id} was already deleted" if already else f"deleted {memory_id}")


def history(ctx: typer.Context, memory_id: IdArg, as_json: JsonOpt = False) -> None:
    """Every change of a memory, oldest first."""
    with state(ctx).open(existing=True) as mem:
        records = mem.history(memory_id)
    if as_json:
        emit_json([render.history_json(r) for r in records])
    else:
        out().print(render.history_table(records))


def supersede(
    ctx: typer.Context,
    memory_id: IdArg,
    by: Annotated[
        str | None, typer.Option("--by", help="The id of the newer memory that replaced it.")
    ] = None,
    undo: Annotated[bool, typer.Option("--undo", help="It was not replaced after all.")] = False,
    reason: ReasonOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mark a memory as replaced by a newer one (valid until that one's time), or --undo."""
    if (by is None) == (not undo):
        raise InputError("give --by NEWER_ID, or --undo to mark the memory current again")
    with state(ctx).open(existing=True) as mem:
        entry = mem.supersede(memory_id, by, reason=reason)
    if as_json:
        emit_json(render.entry_json(entry))
    elif entry.superseded_by is None:
        out().print(f"{entry.id} is current again")
    else:
        out().print(f"{entry.id} replaced by {entry.superseded_by}")


def chain(ctx: typer.Context, memory_id: IdArg, as_json: JsonOpt = False) -> None:
    """The chain of a fact that changed, oldest first: what it replaced, it, what replaced it."""
    with state(ctx).open(existing=True) as mem:
        entries = mem.chain(memory_id)
    if as_json:
        emit_json([render.entry_json(e) for e in entries])
    else:
        out().print(render.chain_table(entries, memory_id))
