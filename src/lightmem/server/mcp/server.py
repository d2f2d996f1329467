"""The MCP server (official MCP Python SDK): memory tools for assistants such as Claude
Desktop or Cursor, over stdio or streamable HTTP.

A connection works in one user's (or agent's) memories: on stdio the one named on the command
line (``lightmem mcp --user U``), on HTTP the one its API key is bound to. The tools take no
user id, so a model cannot wander into another tenant's memories. Errors become tool errors
``"<code>: <message>"`` with the codes of the REST API, in ``base.translated`` only.
"""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError, UnexpectedToolError

from lightmem import __version__
from lightmem.memory import Memory
from lightmem.server.auth import Principal
from lightmem.server.mcp.base import Connection, tool_error_text
from lightmem.server.mcp.entries import ENTRY_TOOLS, register_entry_tools
from lightmem.server.mcp.tools import MEMORY_TOOLS, register_memory_tools

TOOLS = (*MEMORY_TOOLS, *ENTRY_TOOLS)

INSTRUCTIONS = (
    "Long-term memory of the user. Search it before answering questions that may depend on "
    "earlier conversations; add facts worth remembering."
)


class LightMemServer(MCPServer):
    """The SDK's server, whose failed tool calls answer ``"<code>: <message>"``."""

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except UnexpectedToolError:
            raise  # a crash: its text stays on the server
        except ToolError as exc:
            raise ToolError(tool_error_text(exc)) from exc.__cause__


def create_mcp_server(memory: Memory, principal: Principal | None = None) -> MCPServer:
    """Tools over ``memory``. ``principal`` fixes the caller (stdio); without it each HTTP
    request's principal is the one :class:`~lightmem.server.mcp.http.KeyAuth` authenticated."""
    server: MCPServer = LightMemServer("lightmem", version=__version__, instructions=INSTRUCTIONS)
    conn = Connection(memory, principal)
    register_memory_tools(server, conn)
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
