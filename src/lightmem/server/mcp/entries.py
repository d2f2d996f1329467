"""MCP tools over one memory and over the whole pool, beside the REST routes of the same
names: ``get_memory`` (``GET /v1/memories/{id}``), ``update_memory`` (``PATCH``),
``export_memories`` (``GET /v1/export``) and ``list_grants`` (``GET /v1/grants``). Each goes
through the same scoped view as REST (:class:`~lightmem.scoped.ScopedMemory`), so a
connection reaches a shared pool exactly as its key would over REST.

Granting and revoking stay out of MCP on purpose: a model that reads untrusted text should
not be able to share a user's memories with someone else (``lightmem grant`` and
``POST /v1/grants`` do that, on a person's say-so).
"""

from __future__ import annotations

import json
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import Field

from lightmem.server.mcp.base import Connection, PoolAgent, PoolUser, translated
from lightmem.server.mcp.models import Exported, MemoryDetail
from lightmem.server.models import MAX_TEXT, GrantsOut

ENTRY_TOOLS = ("get_memory", "update_memory", "export_memories", "list_grants")


def register_entry_tools(server: MCPServer, conn: Connection) -> None:
    @server.tool()
    @translated(ToolError)
    def get_memory(memory_id: Annotated[str, Field(min_length=1)], ctx: Context) -> MemoryDetail:
        """One memory by its id (from search_memory or list_memories), deleted ones too,
        with its status, version, source turn ids and images."""
        return MemoryDetail.of_entry(conn.view(ctx).get(memory_id))

    @server.tool()
    @translated(ToolError)
    def update_memory(
        memory_id: Annotated[str, Field(min_length=1)],
        text: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)],
        ctx: Context,
        reason: Annotated[str | None, Field(max_length=1000)] = None,
    ) -> MemoryDetail:
        """Correct a memory: replace its text (the old text stays in its history)."""
        return MemoryDetail.of_entry(conn.view(ctx).update(memory_id, text, reason=reason))

    @server.tool()
    @translated(ToolError)
    def export_memories(
        ctx: Context, pool_user: PoolUser = None, pool_agent: PoolAgent = None
    ) -> Exported:
        """Every record of the connection's memories (or of a shared pool): turns, memories,
        history, batches, as GET /v1/export gives them, without the embedding vectors."""
        view = conn.view(ctx)
        own = view.where(pool_user, pool_agent)  # never the whole store, even for an admin
        # the lines of a large export are made in a process of its own, as for REST
        # (each piece holds whole lines; a JSON string never holds a raw newline)
        records = [
            json.loads(line)
            for piece in view.export_lines(pool=own)
            for line in piece.split("\n")
            if line
        ]
        return Exported(records=[{k: v for k, v in r.items() if k != "vector"} for r in records])

    @server.tool()
    @translated(ToolError)
    def list_grants(ctx: Context) -> GrantsOut:
        """The memory pools this connection shares (given) and those shared with it
        (received): a received pool's user/agent go in pool_user/pool_agent."""
        return GrantsOut.of(*conn.view(ctx).grants())
