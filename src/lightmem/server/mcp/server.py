"""The MCP server (official MCP Python SDK): memory tools for assistants such as Claude
Desktop or Cursor, over stdio or streamable HTTP.

A connection works in one user's (or agent's) memories: on stdio the one named on the command
line (``lightmem mcp --user U``), on HTTP the one its API key is bound to. The tools take no
user id, so a model cannot wander into another tenant's memories. Errors become tool errors
``"<code>: <message>"`` with the codes of the REST API, in ``mcp_base.translated`` only.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import Field
from starlette.types import ASGIApp, Receive, Scope, Send

from lightmem import __version__
from lightmem.errors import LightMemError
from lightmem.memory import Memory
from lightmem.server.auth import (
    Principal,
    authenticate,
    bearer_token,
    owned_entry,
    shared_pools,
)
from lightmem.server.errors import classify, error_response
from lightmem.server.keys import KeyStore
from lightmem.server.mcp_base import PRINCIPAL_KEY, Connection, PoolAgent, PoolUser, translated
from lightmem.server.mcp_entries import ENTRY_TOOLS, register_entry_tools
from lightmem.server.mcp_models import (
    Added,
    Deleted,
    Forgotten,
    Memories,
    MemoryItem,
    PromptContext,
    SearchModeArg,
)
from lightmem.server.middleware import LoopbackGuard
from lightmem.server.schemas import MAX_TEXT, ConsolidationOut
from lightmem.sharing import context_pools, search_pools

#: A flag argument: JSON true or false only ("yes" or 1 is refused, not read as true).
Flag = Annotated[bool, Field(strict=True)]

TOOLS = (
    "add_memory",
    "search_memory",
    "memory_context",
    "list_memories",
    "delete_memory",
    "forget",
    "consolidate",
    *ENTRY_TOOLS,
)

__all__ = ["PRINCIPAL_KEY", "TOOLS", "KeyAuth", "create_mcp_server", "http_app"]


def create_mcp_server(memory: Memory, principal: Principal | None = None) -> MCPServer:
    """Tools over ``memory``. ``principal`` fixes the caller (stdio); without it each HTTP
    request's principal is the one :class:`KeyAuth` authenticated."""

    server: MCPServer = MCPServer(
        "lightmem",
        version=__version__,
        instructions=(
            "Long-term memory of the user. Search it before answering questions that may "
            "depend on earlier conversations; add facts worth remembering."
        ),
    )

    conn = Connection(memory, principal)
    caller, scope_of, pool_of, author = conn.caller, conn.scope_of, conn.pool_of, conn.author

    @server.tool()
    @translated(ToolError)
    def add_memory(
        content: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)],
        ctx: Context,
        role: Literal["user", "assistant"] = "user",
        run_id: str | None = None,
        process_now: Flag = True,
        pool_user: PoolUser = None,
        pool_agent: PoolAgent = None,
        idempotency_key: Annotated[str | None, Field(max_length=256)] = None,
    ) -> Added:
        """Remember something: a message of the conversation or a note about the user.

        With process_now (default) it is extracted at once and searchable when this returns;
        otherwise it is buffered and extracted with later messages in the background.
        """
        s = pool_of(ctx, pool_user, pool_agent, "write")
        added = memory.add(
            [{"role": role, "content": content}],
            user_id=s.user_id,
            agent_id=s.agent_id,
            run_id=run_id,
            idempotency_key=idempotency_key,
            author=author(ctx, s),
        )
        created = 0
        if process_now:
            created = memory.flush(user_id=s.user_id, agent_id=s.agent_id).entries_created
        return Added(turn_ids=added.turn_ids, memories_created=created)

    @server.tool()
    @translated(ToolError)
    def search_memory(
        query: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)],
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=50, strict=True)] = 5,
        shared: Flag = False,
        pool_user: PoolUser = None,
        pool_agent: PoolAgent = None,
        mode: SearchModeArg = None,
    ) -> Memories:
        """Find the memories (and conversation turns) most relevant to a query, best first.
        With shared, also in every memory pool shared with this connection. mode
        'hierarchical' finds the relevant sessions first (by their summaries)."""
        s = pool_of(ctx, pool_user, pool_agent, "read")
        if shared:
            pools = shared_pools(memory, caller(ctx), s)
            hits = search_pools(memory, query, pools, limit=limit, mode=mode)
        else:
            hits = memory.search(
                query, user_id=s.user_id, agent_id=s.agent_id, limit=limit, mode=mode
            )
        return Memories(memories=[MemoryItem.of_hit(h) for h in hits])

    @server.tool()
    @translated(ToolError)
    def memory_context(
        query: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)],
        ctx: Context,
        budget_tokens: Annotated[int, Field(ge=1, le=20_000, strict=True)] = 1000,
        shared: Flag = False,
        pool_user: PoolUser = None,
        pool_agent: PoolAgent = None,
        hierarchical: Annotated[bool | None, Field(strict=True)] = None,
    ) -> PromptContext:
        """What to put in the prompt before answering: the relevant memories in time order
        and the conversation turns that back them, packed into a token budget. With
        hierarchical, the relevant sessions are found first and their summaries lead."""
        s = pool_of(ctx, pool_user, pool_agent, "read")
        if shared:
            pools = shared_pools(memory, caller(ctx), s)
            block = context_pools(
                memory, query, pools, budget_tokens=budget_tokens, hierarchical=hierarchical
            )
        else:
            block = memory.context(
                query,
                user_id=s.user_id,
                agent_id=s.agent_id,
                budget_tokens=budget_tokens,
                hierarchical=hierarchical,
            )
        return PromptContext(
            text=block.text,
            tokens=block.tokens,
            budget_tokens=block.budget_tokens,
            items=[MemoryItem.of_hit(h) for h in block.items],
        )

    @server.tool()
    @translated(ToolError)
    def list_memories(
        ctx: Context,
        limit: Annotated[int, Field(ge=1, le=1000)] = 50,
        pool_user: PoolUser = None,
        pool_agent: PoolAgent = None,
    ) -> Memories:
        """List stored memories, oldest first."""
        s = pool_of(ctx, pool_user, pool_agent, "read")
        entries = memory.get_all(user_id=s.user_id, agent_id=s.agent_id, limit=limit)
        return Memories(memories=[MemoryItem.of(e) for e in entries])

    @server.tool()
    @translated(ToolError)
    def delete_memory(memory_id: str, ctx: Context) -> Deleted:
        """Forget one memory by its id (from search_memory or list_memories)."""
        entry = owned_entry(memory, caller(ctx), memory_id, "write")
        actor = author(ctx, entry.scope) or "user"
        memory.delete(memory_id, reason="deleted through MCP", actor=actor)
        return Deleted(deleted=memory_id)

    @server.tool()
    @translated(ToolError)
    def forget(
        query: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)],
        ctx: Context,
        confirm: Flag = False,
        purge: Flag = False,
        pool_user: PoolUser = None,
        pool_agent: PoolAgent = None,
    ) -> Forgotten:
        """Forget everything about something: the memories holding every word of the query
        and the conversation turns they came from. Without confirm it only previews; show
        the preview to the user and call again with confirm=true. purge erases for good."""
        s = pool_of(ctx, pool_user, pool_agent, "write")
        r = memory.forget(
            query, user_id=s.user_id, agent_id=s.agent_id, purge=purge, dry_run=not confirm,
            actor="mcp",
        )  # fmt: skip
        return Forgotten(
            done=r.done,
            purged=r.purged,
            memories=[MemoryItem.of(e) for e in r.memories],
            turns=len(r.turns),
        )

    @server.tool()
    @translated(ToolError)
    def consolidate(ctx: Context) -> ConsolidationOut:
        """Tidy memory: merge duplicates, resolve outdated or contradicting memories."""
        s = scope_of(ctx)
        return ConsolidationOut.of(memory.consolidate(user_id=s.user_id, agent_id=s.agent_id))

    @server.resource(
        "memory://{user_id}",
        mime_type="application/json",
        description="All active memories of a user, as JSON.",
    )
    @translated(ResourceError)
    def user_memories(user_id: str, ctx: Context) -> str:
        s = scope_of(ctx, user_id)
        entries = memory.get_all(user_id=s.user_id, agent_id=s.agent_id)
        return json.dumps([MemoryItem.of(e).model_dump() for e in entries], ensure_ascii=False)

    register_entry_tools(server, conn)
    forbid_unknown_arguments(server)
    return server


def forbid_unknown_arguments(server: MCPServer) -> None:
    """An argument a tool does not take is an error, not silently dropped (a client that
    sends ``user_id`` learns that it is refused, rather than believing it applied)."""
    for tool in server._tool_manager.list_tools():
        model = tool.fn_metadata.arg_model
        model.model_config["extra"] = "forbid"
        model.model_rebuild(force=True)
        tool.parameters = model.model_json_schema(by_alias=True)


class KeyAuth:
    """ASGI middleware of the HTTP transport: every request needs a valid API key; its
    principal is left in the request scope for the tools."""

    def __init__(self, app: ASGIApp, keys: KeyStore, until_keys: Principal | None = None) -> None:
        self.app = app
        self.keys = keys
        self.until_keys = until_keys  # keyless loopback: this principal while no key exists

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            header = dict(scope.get("headers") or []).get(b"authorization", b"")
            try:
                token = bearer_token(header.decode("latin-1"))
                if self.until_keys is not None and not token and not self.keys.configured():
                    principal = self.until_keys
                else:
                    principal = authenticate(self.keys, token)
            except LightMemError as exc:  # unauthorized, or an unreadable keys file
                status, code, message = classify(exc)
                await error_response(status, code, message)(scope, receive, send)
                return
            scope[PRINCIPAL_KEY] = principal
        await self.app(scope, receive, send)


def http_app(
    memory: Memory, *, keys: KeyStore | None, principal: Principal | None, host: str
) -> ASGIApp:
    """The streamable-HTTP app at ``/mcp``: keyed (one principal per request) or, keyless on
    loopback, fixed to ``principal``. The SDK guards loopback hosts against DNS rebinding."""
    server = create_mcp_server(memory, None if keys is not None else principal)
    app: Any = server.streamable_http_app(host=host)
    if keys is None:
        return LoopbackGuard(app)
    if principal is not None:  # started without keys: loopback only, until the first key
        return LoopbackGuard(KeyAuth(app, keys, until_keys=principal))
    return KeyAuth(app, keys)
