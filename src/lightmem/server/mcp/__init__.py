"""The MCP server: memory tools over stdio or streamable HTTP (``lightmem mcp``)."""

from lightmem.server.mcp.base import PRINCIPAL_KEY
from lightmem.server.mcp.http import KeyAuth, http_app
from lightmem.server.mcp.server import TOOLS, create_mcp_server

__all__ = ["PRINCIPAL_KEY", "TOOLS", "KeyAuth", "create_mcp_server", "http_app"]
