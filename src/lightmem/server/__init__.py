"""The REST API (FastAPI) and the MCP server over the same :class:`~lightmem.Memory` facade.

Install with ``pip install 'lightmem[server]'``. Nothing is imported here, so that the key
commands of the CLI work without the server's dependencies.
"""
