"""``lightmem proxy``: an OpenAI-compatible server in front of any OpenAI-compatible model
server, which injects the caller's memory into each request and records the conversation
(``docs/integrations.md``). Needs ``pip install 'lightmem[proxy]'``."""

from lightmem.server.proxy.app import create_proxy_app

__all__ = ["create_proxy_app"]
