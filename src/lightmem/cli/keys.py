"""``lightmem keys create|list|revoke``: the API keys of the REST and MCP servers, kept hashed
in the store's database. Works without the server extra."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.table import Table

from lightmem.cli.state import JsonOpt, emit_json, note, out, state
from lightmem.server.keys import ApiKey, KeyStore

keys_app = typer.Typer(
    name="keys",
    help="Manage the API keys of the REST and MCP servers (stored hashed in the store).",
    no_args_is_help=True,
)


@contextmanager
def _keystore(ctx: typer.Context) -> Iterator[KeyStore]:
    """The keys of the store (in its database), the store open while the block runs."""
    with state(ctx).open() as memory:
        yield KeyStore.for_memory(memory)


def _describe(key: ApiKey) -> str:
    if key.admin:
        return "admin (every user and agent)"
    parts = []
    for g in key.grants:
        user = f"user {g.user_id}" if g.user_id is not None else "no user"
        agent = (
            f"agent {g.agent_id}"
            if g.agent_id is not None
            else ("any agent" if g.user_id is not None else "no agent")
        )
        parts.append(f"{user}, {agent}")
    return "; ".join(parts)


@keys_app.command("create")
def keys_create(
    ctx: typer.Context,
    user: Annotated[
        list[str] | None, typer.Option("--user", "-u", help="User the key may touch (repeatable).")
    ] = None,
    agent: Annotated[
        list[str] | None,
        typer.Option("--agent", "-a", help="Agent the key may touch (repeatable)."),
    ] = None,
    name: Annotated[str | None, typer.Option("--name", "-n", help="Name, for revoking.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="May touch every user and agent.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key and print it. It is shown once: only its hash is kept."""
    with _keystore(ctx) as keys:
        secret, key = keys.create(users=user or [], agents=agent or [], name=name, admin=admin)
    if as_json:
        emit_json({"name": key.name, "key": secret, "scopes": _describe(key)})
        return
    out().print(secret, markup=False, highlight=False)
    note(f"created key {key.name!r} for {_describe(key)}; it is shown only now: store it safely")


@keys_app.command("list")
def keys_list(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """List the keys: names, scopes and creation times (never the keys themselves)."""
    with _keystore(ctx) as store:
        keys = store.list_keys()
    if as_json:
        emit_json(
            [
                {
                    "name": k.name,
                    "admin": k.admin,
                    "created_at": k.created_at,
                    "grants": [{"user_id": g.user_id, "agent_id": g.agent_id} for g in k.grants],
                }
                for k in keys
            ]
        )
        return
    if not keys:
        note("no API keys; create one with: lightmem keys create --user USER")
        return
    table = Table("name", "may touch", "created")
    for k in keys:
        table.add_row(k.name, _describe(k), k.created_at)
    out().print(table)


@keys_app.command("revoke")
def keys_revoke(
    ctx: typer.Context, name: Annotated[str, typer.Argument(help="The key's name.")]
) -> None:
    """Revoke a key. Running servers refuse it from their next request."""
    with _keystore(ctx) as keys:
        keys.revoke(name)
    note(f"revoked key {name!r}")
