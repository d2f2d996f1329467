"""MCP tools over one memory and over the whole pool, beside the REST routes of the same
names: ``get_memory`` (``GET /v1/memories/{id}``), ``update_memory`` (``PATCH``),
``export_memories`` (``GET /v1/export``) and ``list_grants`` (``GET /v1/grants``). Each goes
through the same checks as REST (:func:`~lightmem.server.auth.owned_entry`, the pool
grants), so a connection reaches a shared pool exactly as its key would over REST.

Granting and revoking stay out of MCP on purpose: a model that reads untrusted text should
not be able to share a user's memories with someone else (``lightmem grant`` and
``POST /v1/grants`` do that, on a person's say-so).
"""

from __future__ import annotations

from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from lightmem.server.auth import owned_entry
from lightmem.server.mcp_base import Connection, PoolAgent, PoolUser, translated
from lightmem.server.mcp_models import Exported, MemoryDetail
from lightmem.server.pools import GrantOut, GrantsOut
from lightmem.server.schemas import MAX_TEXT

ENTRY_TOOLS = ("get_memory", "update_memory", "export_memories", "list_grants")


def register_entry_tools(server: MCPServer, conn: Connection) -> None:
    memory = conn.memory

    @server.tool()
    @translated(ToolError)
    def get_memory(memory_id: Annotated[str, Field(min_length=1)], ctx: Context) -> MemoryDetail:
        """One memory by its id (from search_memory or list_memories), deleted ones too,
        with its status, version, source turn ids and images."""
        return MemoryDetail.of_entry(owned_entry(memory, conn.caller(ctx), memory_id, "read"))

    @server.tool()
    @translated(ToolError)
    def update_memory(
        memory_id: Annotated[str, Field(min_length=1)],
        text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)],
        ctx: Context,
        reason: Annotated[str | None, Field(max_length=1000)] = None,
    ) -> MemoryDetail:
        """Correct a memory: replace its text (the old text stays in its history)."""
        entry = owned_entry(memory, conn.caller(ctx), memory_id, "write")
        actor = conn.author(ctx, entry.scope) or "user"
        return MemoryDetail.of_entry(memory.update(memory_id, text, reason=reason, actor=actor))

    @server.tool()
    @translated(ToolError)
    def export_memories(
        ctx: Context, pool_user: PoolUser = None, pool_agent: PoolAgent = None
    ) -> Exported:
        """Every record of the connection's memories (or of a shared pool): turns, memories,
        history, batches, as GET /v1/export gives them, without the embedding vectors."""
        s = conn.pool_of(ctx, pool_user, pool_agent, "read")
        records = [
            {k: v for k, v in r.items() if k != "vector"}
            for r in memory.export(user_id=s.user_id, agent_id=s.agent_id)
        ]
        return Exported(records=records)

    @server.tool()
    @translated(ToolError)
    def list_grants(ctx: Context) -> GrantsOut:
        """The memory pools this connection shares (given) and those shared with it
        (received): a received pool's user/agent go in pool_user/pool_agent."""
        p = conn.caller(ctx)
        every = memory.store.list_grants()
        return GrantsOut(
            given=[GrantOut.of(g) for g in every if p.allows(g.pool)],
            received=[GrantOut.of(g) for g in every if p.allows(g.grantee)],
        )
