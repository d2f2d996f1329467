"""Forgetting from the command line: ``forget`` (preview, then ``--yes``), ``pin`` and
``ttl``."""

from __future__ import annotations

from typing import Annotated

import typer

from lightmem.cli import render
from lightmem.cli.state import AgentOpt, JsonOpt, UserOpt, emit_json, need_scope, note, out, state
from lightmem.errors import InputError
from lightmem.types import ForgetResult

IdArg = Annotated[str, typer.Argument(metavar="ID", help="Memory id.")]


def forget(
    ctx: typer.Context,
    query: Annotated[
        str | None, typer.Argument(help="Forget the memories holding every word of it.")
    ] = None,
    ids: Annotated[
        list[str] | None, typer.Option("--id", help="A memory id to forget (repeatable).")
    ] = None,
    user: UserOpt = None,
    agent: AgentOpt = None,
    purge: Annotated[
        bool, typer.Option("--purge", help="Erase for good, with history and source turns.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do it; without, only preview.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only preview (the default without --yes).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Forget everything about QUERY (and/or --id memories): preview, then --yes."""
    need_scope(user, agent)
    if query is None and not ids:
        raise InputError("give a QUERY and/or --id ID")
    if dry_run and yes:
        raise InputError("--dry-run previews and --yes forgets: give one of them")
    with state(ctx).open(existing=True) as mem:
        result = mem.forget(
            query,
            ids=ids or None,
            user_id=user,
            agent_id=agent,
            purge=purge,
            dry_run=not yes,
            actor="cli",
        )
    if as_json:
        emit_json(forget_json(result))
        return
    if result.memories:
        out().print(render.entries_table(result.memories, show_status=True))
    verb = (
        ("erased" if purge else "forgot")
        if result.done
        else "would " + ("erase" if purge else "forget")
    )
    out().print(f"{verb} {len(result.memories)} memories and {len(result.turns)} source turns")
    if not result.done and (result.memories or result.turns):
        note("nothing changed: run again with --yes to do it")


def forget_json(r: ForgetResult) -> dict[str, object]:
    return {
        "done": r.done,
        "purged": r.purged,
        "memories": [render.entry_json(e) for e in r.memories],
        "turns": [render.turn_json(t) for t in r.turns],
        "erased_memories": r.erased_entries,
        "erased_turns": r.erased_turns,
        "compacted": r.compacted,
    }


def pin(
    ctx: typer.Context,
    memory_id: IdArg,
    unpin: Annotated[bool, typer.Option("--unpin", help="Unpin instead.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Pin a memory: consolidation never merges, changes or expires it."""
    with state(ctx).open(existing=True) as mem:
        entry = mem.pin(memory_id, not unpin)
    if as_json:
        emit_json(render.entry_json(entry))
    else:
        out().print(f"{'pinned' if entry.pinned else 'unpinned'} {entry.id}")


def ttl(
    ctx: typer.Context,
    seconds: Annotated[
        float | None, typer.Argument(help="Seconds from now (memory) or from creation.")
    ] = None,
    memory_id: Annotated[str | None, typer.Option("--id", help="The memory.")] = None,
    user: UserOpt = None,
    agent: AgentOpt = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the TTL.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Set a memory's TTL (--id), or the default TTL of a user/agent's memories."""
    if (seconds is None) == (not clear):
        raise InputError("give SECONDS or --clear")
    pinned = False
    with state(ctx).open(existing=True) as mem:
        if memory_id is not None:
            entry = mem.set_ttl(memory_id, None if clear else seconds)
            data = render.entry_json(entry)
            pinned = entry.pinned
        else:
            need_scope(user, agent, instead="--id ID for one memory's TTL")
            mem.set_default_ttl(None if clear else seconds, user_id=user, agent_id=agent)
            default = mem.default_ttl(user_id=user, agent_id=agent)
            seconds_left = None if default is None else default.total_seconds()
            data = {"user_id": user, "agent_id": agent, "ttl_seconds": seconds_left}
    if as_json:
        emit_json(data)
    else:
        out().print("ttl cleared" if clear else f"ttl set to {seconds:g} s")
    if pinned and not clear:
        note("the memory is pinned: it does not expire while pinned (`lightmem pin --unpin ID`)")
