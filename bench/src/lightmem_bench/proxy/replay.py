"""The replay: a LoCoMo conversation as the requests of a chat app (its first speaker the
user, the other the assistant), each request carrying the whole history so far. Every
request is sent twice, straight to the upstream and through the proxy, after the store's
background work and the proxy's index warm-up have drained (as a user's think time lets
them: the latency is the request path's own); between sessions
the store is flushed and consolidated (sleep time: session summaries change then). The
upstream runs in a process of its own, as a model server does."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from lightmem import Memory
from lightmem.datasets.base import Conversation
from lightmem.server.keys import KeyStore
from lightmem_bench.proxy.upstream import UpstreamProcess

APP_PROMPT = {"role": "system", "content": "You are a warm, attentive friend. Reply briefly."}
USER = "bench-user"


@dataclass(slots=True)
class Exchange:
    """One request of the app: the user's message and the reply the upstream gives."""

    session: str
    user: str
    reply: str
    #: the session opens with the other speaker: history without a request of its own
    before: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Settings:
    budget_tokens: int = 800
    history_turns: int = 8
    query_turns: int = 3
    embedder: dict[str, Any] = field(default_factory=lambda: {"provider": "minilm"})
    max_requests: int | None = None


def server_timing(header: str) -> dict[str, float]:
    """A ``Server-Timing`` header's durations by metric name (ms)."""
    out = {}
    for metric in header.split(","):
        name, _, params = metric.strip().partition(";")
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "dur":
                out[name] = float(value)
    return out


def exchanges(conv: Conversation) -> list[Exchange]:
    """The app's requests: consecutive turns of a speaker joined, the first speaker's
    messages each a request whose reply is the other speaker's next message."""
    groups: list[tuple[str, bool, str]] = []
    first = conv.turns[0].speaker
    for t in conv.turns:
        is_user = t.speaker == first
        if groups and groups[-1][:2] == (t.session_id, is_user):
            groups[-1] = (t.session_id, is_user, groups[-1][2] + "\n" + t.content)
        else:
            groups.append((t.session_id, is_user, t.content))
    out: list[Exchange] = []
    before: list[str] = []  # the other speaker's messages no request answered
    i = 0
    while i < len(groups):
        session, is_user, text = groups[i]
        if not is_user:
            before.append(text)
            i += 1
            continue
        nxt = groups[i + 1] if i + 1 < len(groups) else None
        answered = nxt is not None and nxt[0] == session and not nxt[1]
        out.append(Exchange(session, text, nxt[2] if answered and nxt else "I see.", before))
        before = []
        i += 2 if answered else 1
    return out


def replay(
    conv: Conversation,
    settings: Settings,
    *,
    progress: Callable[[str], None] | None = None,
    store: Path | None = None,
) -> tuple[list[dict[str, Any]], str]:
    """One row per request (tokens, the stable part's hash, both latencies), and the
    embedder's ``model_id`` as the config resolved it (environment overrides included)."""
    from lightmem.config import ProxySection
    from lightmem.server.proxy import create_proxy_app
    from lightmem.server.threaded import ThreadedServer

    config = {"embedder": settings.embedder, "llm": "none", "worker": {"background": True}}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Memory(store or Path(tmp) / "store", config=config) as memory,
        UpstreamProcess() as up,
    ):
        key, _ = KeyStore.for_memory(memory).create(users=[USER], name="bench-app")
        section = ProxySection(
            upstream_url=up.url + "/v1",
            budget_tokens=settings.budget_tokens,
            history_turns=settings.history_turns,
            query_turns=settings.query_turns,
        )
        app = create_proxy_app(memory, KeyStore.for_memory(memory), section, environ={})
        with ThreadedServer(app) as proxy, httpx.Client(timeout=60) as http:
            run = _Run(memory, app.state.proxy.warmer, up, http, up.url, proxy.url, key)
            rows = run.all(exchanges(conv)[: settings.max_requests], progress)
            return rows, memory.embedder.model_id


@dataclass
class _Run:
    memory: Memory
    warmer: Any
    upstream: UpstreamProcess
    http: httpx.Client
    upstream_url: str
    proxy_url: str
    key: str

    def all(
        self, plan: list[Exchange], progress: Callable[[str], None] | None
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        history: list[dict[str, Any]] = [APP_PROMPT]
        session = None
        for n, ex in enumerate(plan):
            if ex.session != session:
                if session is not None:
                    self.sleep_time()
                session = ex.session
                if progress:
                    progress(f"{session}: request {n + 1} of {len(plan)}")
            history += [{"role": "assistant", "content": t} for t in ex.before]
            messages = [*history, {"role": "user", "content": ex.user}]
            rows.append(self.one(ex, messages))
            history = [*messages, {"role": "assistant", "content": ex.reply}]
        return rows

    def sleep_time(self) -> None:
        self.memory.flush(user_id=USER)
        self.memory.consolidate(user_id=USER)

    def one(self, ex: Exchange, messages: list[dict[str, Any]]) -> dict[str, Any]:
        from lightmem.server.proxy.block import message_tokens

        body = {"model": "bench", "messages": messages}
        self.upstream.say(ex.reply)
        self.memory.wait()
        self.warmer.wait()  # the idle work a user's think time leaves room for
        direct, _ = self._post(self.upstream_url, body, {})
        headers = {"Authorization": f"Bearer {self.key}", "X-LightMem-Session": ex.session}
        proxied, answer = self._post(self.proxy_url, body, headers)
        h = answer.headers
        timing = server_timing(h["server-timing"])
        return {
            "session": ex.session,
            "full_tokens": message_tokens(messages),
            "upstream_tokens": int(h["x-lightmem-upstream-tokens"]),
            "injected_tokens": int(h["x-lightmem-injected-tokens"]),
            "stable_tokens": int(h["x-lightmem-stable-tokens"]),
            "stable_hash": h["x-lightmem-stable-hash"],
            "block_ms": timing["lightmem-block"],
            "embed_ms": timing["lightmem-embed"],
            "direct_ms": round(direct * 1e3, 3),
            "proxy_ms": round(proxied * 1e3, 3),
        }

    def _post(
        self, base: str, body: dict[str, Any], headers: dict[str, str]
    ) -> tuple[float, httpx.Response]:
        start = time.perf_counter()
        response = self.http.post(base + "/v1/chat/completions", json=body, headers=headers)
        elapsed = time.perf_counter() - start
        response.raise_for_status()
        return elapsed, response
