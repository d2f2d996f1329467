"""Shared pools from the command line: ``grant``, ``grants`` and ``revoke``, with the names
and shapes of the REST routes ``POST``/``GET``/``DELETE /v1/grants``. The CLI works on the
store itself (like an admin key): it may share any scope."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import typer

from lightmem.access import author_label
from lightmem.cli.state import AgentOpt, JsonOpt, UserOpt, emit_json, note, out, state
from lightmem.errors import InputError, StorageError
from lightmem.messages import make_scope
from lightmem.types import PoolGrant, Scope

PoolUser = Annotated[str | None, typer.Option("--pool-user", help="The pool's user id.")]
PoolAgent = Annotated[str | None, typer.Option("--pool-agent", help="The pool's agent id.")]
ToUser = Annotated[str | None, typer.Option("--to-user", help="The grantee's user id.")]
ToAgent = Annotated[str | None, typer.Option("--to-agent", help="The grantee's agent id.")]


def _scope(user: str | None, agent: str | None, what: str) -> Scope:
    if user is None and agent is None:
        raise InputError(f"give --{what}-user USER and/or --{what}-agent AGENT")
    return make_scope(user, agent, None)


def grant_json(g: PoolGrant) -> dict[str, Any]:
    """The REST ``GrantOut`` shape."""
    return {
        "pool": {"user_id": g.pool.user_id, "agent_id": g.pool.agent_id},
        "to": {"user_id": g.grantee.user_id, "agent_id": g.grantee.agent_id},
        "level": g.level,
    }


def _line(g: PoolGrant) -> str:
    return f"{author_label(g.pool)} -> {author_label(g.grantee)}: {g.level}"


def grant(
    ctx: typer.Context,
    level: Annotated[Literal["read", "write"], typer.Argument(help="read, or write (read too).")],
    pool_user: PoolUser = None,
    pool_agent: PoolAgent = None,
    to_user: ToUser = None,
    to_agent: ToAgent = None,
    as_json: JsonOpt = False,
) -> None:
    """Share a pool (a user/agent scope) with another scope: read or write."""
    pool, to = _scope(pool_user, pool_agent, "pool"), _scope(to_user, to_agent, "to")
    with state(ctx).open() as mem:
        made = mem.grant(level, pool=pool, to=to)
    if made is None:  # a store that kept no grant: never silently reported as done
        raise StorageError("the store did not keep the grant")
    if as_json:
        emit_json(grant_json(made))
    else:
        out().print(f"granted {_line(made)}", markup=False)


def grants(
    ctx: typer.Context,
    user: UserOpt = None,
    agent: AgentOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List grants: those given on a scope's pools and those it received (every grant of
    the store, as given, when no scope is named)."""
    received: list[PoolGrant] = []
    with state(ctx).open() as mem:
        if user is None and agent is None:
            given = mem.grants()
        else:  # the pools it owns, and the grants that reach it
            given, received = mem.as_scope(user_id=user, agent_id=agent).grants()
    if as_json:
        emit_json(
            {"given": [grant_json(g) for g in given], "received": [grant_json(g) for g in received]}
        )
        return
    for title, rows in (("given", given), ("received", received)):
        for g in rows:
            out().print(f"{title}: {_line(g)}", markup=False)
    if not given and not received:
        note("no grants")


def revoke(
    ctx: typer.Context,
    pool_user: PoolUser = None,
    pool_agent: PoolAgent = None,
    to_user: ToUser = None,
    to_agent: ToAgent = None,
    as_json: JsonOpt = False,
) -> None:
    """Revoke a grant; the grantee is refused from its next call."""
    pool, to = _scope(pool_user, pool_agent, "pool"), _scope(to_user, to_agent, "to")
    with state(ctx).open() as mem:
        revoked = mem.revoke(pool=pool, to=to)
    if as_json:
        emit_json({"revoked": revoked})
    elif revoked:
        out().print(f"revoked {author_label(pool)} -> {author_label(to)}", markup=False)
    else:
        note("no such grant: nothing revoked")
