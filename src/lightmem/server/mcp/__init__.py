"""The MCP server: memory tools over stdio or streamable HTTP (``lightmem mcp``).

The HTTP transport (``http_app``, ``KeyAuth``) is imported when first named: a stdio server
never loads the web stack."""

from typing import Any

from lightmem.server.mcp.base import PRINCIPAL_KEY
from lightmem.server.mcp.server import TOOLS, create_mcp_server

__all__ = ["PRINCIPAL_KEY", "TOOLS", "KeyAuth", "create_mcp_server", "http_app"]


def __getattr__(name: str) -> Any:
    if name in ("KeyAuth", "http_app"):
        from lightmem.server.mcp import http

        return getattr(http, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
