"""The memory tools of the MCP server: add, search, context, list, delete, forget and
consolidate, and the ``memory://`` resource. Each works through the connection's scoped
view (:meth:`~lightmem.server.mcp.base.Connection.view`), so a connection reaches a shared
pool (``pool_user``/``pool_agent``) exactly as its key would over REST."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from pydantic import Field

from lightmem.server.mcp.base import Connection, PoolAgent, PoolUser, translated
from lightmem.server.mcp.models import (
    Added,
    Deleted,
    Forgotten,
    Memories,
    MemoryItem,
    PromptContext,
    SearchModeArg,
)
from lightmem.server.models import MAX_TEXT, UNREACHABLE, ConsolidationOut

#: A flag argument: JSON true or false only ("yes" or 1 is refused, not read as true).
Flag = Annotated[bool, Field(strict=True)]
Query = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]

MEMORY_TOOLS = (
    "add_memory",
    "search_memory",
    "memory_context",
    "list_memories",
    "delete_memory",
    "forget",
    "consolidate",
)


def register_memory_tools(server: MCPServer, conn: Connection) -> None:
    memory = conn.memory

    @server.tool()
    @translated(ToolError)
    def add_memory(
        content: Query,
        ctx: Context,
        role: Literal["user", "assistant"] = "user",
        speaker: Annotated[
            str | None, Field(max_length=200, description="Who said it (a name).")
        ] = None,
        timestamp: Annotated[
            str | None,
            Field(max_length=64, description="When it was said, ISO 8601; default: now."),
        ] = None,
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
        view = conn.view(ctx)
        s = view.where(pool_user, pool_agent, need="write")
        message = {"role": role, "content": content, "speaker": speaker, "timestamp": timestamp}
        added = view.add(
            [{k: v for k, v in message.items() if v is not None}],
            pool=s,
            run_id=run_id,
            idempotency_key=idempotency_key,
        )
        created, note = 0, None
        if process_now:
            flushed = memory.flush(user_id=s.user_id, agent_id=s.agent_id)
            created = flushed.entries_created
            note = UNREACHABLE if flushed.waiting_batches else None
        return Added(turn_ids=added.turn_ids, memories_created=created, note=note)

    @server.tool()
    @translated(ToolError)
    def search_memory(
        query: Query,
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
        hits = conn.view(ctx).search(
            query, user_id=pool_user, agent_id=pool_agent, shared=shared, limit=limit, mode=mode
        )
        return Memories(memories=[MemoryItem.of_hit(h) for h in hits])

    @server.tool()
    @translated(ToolError)
    def memory_context(
        query: Query,
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
        block = conn.view(ctx).context(
            query,
            user_id=pool_user,
            agent_id=pool_agent,
            shared=shared,
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
        entries = conn.view(ctx).get_all(user_id=pool_user, agent_id=pool_agent, limit=limit)
        return Memories(memories=[MemoryItem.of(e) for e in entries])

    @server.tool()
    @translated(ToolError)
    def delete_memory(memory_id: str, ctx: Context) -> Deleted:
        """Forget one memory by its id (from search_memory or list_memories)."""
        conn.view(ctx).delete(memory_id, reason="deleted through MCP")
        return Deleted(deleted=memory_id)

    @server.tool()
    @translated(ToolError)
    def forget(
        query: Query,
        ctx: Context,
        confirm: Flag = False,
        purge: Flag = False,
        pool_user: PoolUser = None,
        pool_agent: PoolAgent = None,
    ) -> Forgotten:
        """Forget everything about something: the memories holding every word of the query
        and the conversation turns they came from. Without confirm it only previews; show
        the preview to the user and call again with confirm=true. purge erases for good
        (only in the connection's own memories)."""
        r = conn.view(ctx).forget(
            query, user_id=pool_user, agent_id=pool_agent, purge=purge, dry_run=not confirm
        )
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
        s = conn.caller(ctx).scope()
        return ConsolidationOut.of(memory.consolidate(user_id=s.user_id, agent_id=s.agent_id))

    @server.resource(
        "memory://{user_id}",
        mime_type="application/json",
        description="All active memories of a user, as JSON.",
    )
    @translated(ResourceError)
    def user_memories(user_id: str, ctx: Context) -> str:
        view = conn.view(ctx)
        s = view.principal.scope(user_id=user_id)
        entries = view.get_all(pool=s)
        return json.dumps([MemoryItem.of(e).model_dump() for e in entries], ensure_ascii=False)
