"""The proxy under test: its app over the server tests' store (hash embedder, no LLM,
background worker, keys for alice, bob and an admin), served by uvicorn on 127.0.0.1 in
front of the fake OpenAI server, and driven by the official ``openai`` client."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from lightmem import Memory
from lightmem.config import ProxySection
from lightmem.server.threaded import ThreadedServer
from tests.fakes.openai_server import FakeOpenAIServer
from tests.server.conftest import Tenants

try:
    import openai

    from lightmem.server.proxy import create_proxy_app
except ImportError:  # the proxy extra or the openai client is not installed
    collect_ignore_glob = ["test_*.py"]

#: The key the proxy sends its upstream: never one of the clients' keys.
UPSTREAM_KEY = "sk-upstream-secret"


@dataclass
class Proxy:
    url: str
    upstream: FakeOpenAIServer
    memory: Memory
    settings: ProxySection
    clients: list[Any] = field(default_factory=list)

    def client(self, key: str = "unused", **kwargs: Any) -> openai.OpenAI:
        """An OpenAI client on the proxy (no retries: each test sees each answer)."""
        c = openai.OpenAI(base_url=self.url + "/v1", api_key=key, max_retries=0, **kwargs)
        self.clients.append(c)
        return c

    def upstream_messages(self, n: int = -1) -> list[dict[str, Any]]:
        """The messages the upstream received in its ``n``-th chat request."""
        body: dict[str, Any] = self.upstream.chat_requests[n].body
        return list(body["messages"])

    def session_turns(self, user: str, session: str) -> list[tuple[str, str]]:
        turns = self.memory.turns(user_id=user, session_id=session)
        return [(t.role, t.content) for t in turns]


MakeProxy = Callable[..., Proxy]


@pytest.fixture
def make_proxy(
    memory: Memory, tenants: Tenants, openai_server: FakeOpenAIServer
) -> Iterator[MakeProxy]:
    """``make_proxy(keys=..., **settings)``: the proxy over the store, upstream the fake."""
    servers: list[ThreadedServer] = []
    made: list[Proxy] = []

    def make(keys: Any = tenants.store, **settings: Any) -> Proxy:
        base = {"upstream_url": openai_server.base_url, "timeout_seconds": 10.0}
        section = ProxySection.model_validate({**base, **settings})
        app = create_proxy_app(
            memory, keys, section, environ={"LIGHTMEM_PROXY_API_KEY": UPSTREAM_KEY}
        )
        server = ThreadedServer(app).start()
        servers.append(server)
        made.append(Proxy(server.url, openai_server, memory, section))
        return made[-1]

    yield make
    for proxy in made:
        for c in proxy.clients:
            c.close()
    for server in servers:
        server.stop()


@pytest.fixture
def proxy(make_proxy: MakeProxy) -> Proxy:
    return make_proxy()
