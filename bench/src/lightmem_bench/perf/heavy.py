"""``lightmem bench perf --heavy-user N[,N...]``: one user with a long history, timed on the
path an application takes.

For each N: a fresh store; N turns of real chat text (REALTALK and LoCoMo dev, cycled, each
session's turns in order with their speakers and times) added through ``Memory.add``, the
first part one message at a time, the rest one session per call; then ``search`` and
``context(1,000 tokens)`` through the public API for the datasets' questions (cold: the first
call after the adds; warm: the rest), the query embedding timed apart; the store closed,
reopened and searched once more (the first search after reopen, the OS file cache warm, the
embedder loaded first as ``serve`` loads it while it starts, its load timed apart); and
the same questions over REST (the FastAPI app in process). Ingest under contention: the same
turns added with and without a CPU-bound process competing (A/B in one run).

JSON: ``heavy_user.<N>`` with ``adds`` (``per_message`` and ``per_session`` turns/s and add
p50/p95), ``search`` and ``context`` (p50/p95 ms), ``embedding`` (p50/p95 ms of the query
embedding alone), ``first_search_ms``, ``reopen`` (``open_s``, ``embedder_load_s``,
``first_search_ms``), ``rest`` (``search`` and ``context``); ``heavy_user.contention``.
"""

from __future__ import annotations

import json
import multiprocessing
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from lightmem import Memory
from lightmem_bench.perf.stats import current_rss_mb, summary

Progress = Callable[[str], None]
USER = "heavy"
SESSION_TURNS = 40
#: turns added one message at a time before the rest goes in per session
PER_MESSAGE = 500
CONTEXT_TOKENS = 1000


def chat_turns(data: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """(speaker, text) of every turn of the dev chats in order, and their questions."""
    turns: list[tuple[str, str]] = []
    questions: list[str] = []
    for name in ("realtalk-dev.json", "locomo-dev.json"):
        path = data / name
        if not path.is_file():
            continue
        for sample in json.loads(path.read_text(encoding="utf-8")):
            conv = sample["conversation"]
            keys = sorted(
                (k for k in conv if k.startswith("session_") and isinstance(conv[k], list)),
                key=lambda k: int(k.split("_")[1]),
            )
            for k in keys:
                turns += [(t["speaker"], t["text"]) for t in conv[k] if t.get("text")]
            questions += [str(q["question"]) for q in sample.get("qa", []) if q.get("question")]
    if not turns:
        raise FileNotFoundError(f"no realtalk-dev.json or locomo-dev.json under {data}")
    return turns, questions


def sessions_of(turns: list[tuple[str, str]], n: int) -> list[list[dict[str, Any]]]:
    """``n`` turns cycled from ``turns``, cut into sessions with times six hours apart."""
    start = datetime(2023, 1, 1, 9, 0)
    out: list[list[dict[str, Any]]] = []
    for s, first in enumerate(range(0, n, SESSION_TURNS)):
        day = start + timedelta(hours=6 * s)
        out.append(
            [
                {
                    "role": "user",
                    "name": turns[i % len(turns)][0],
                    "content": turns[i % len(turns)][1],
                    "timestamp": (day + timedelta(minutes=i - first)).isoformat(),
                }
                for i in range(first, min(n, first + SESSION_TURNS))
            ]
        )
    return out


def _add(mem: Memory, sessions: list[list[dict[str, Any]]], per_message: int) -> dict[str, Any]:
    one: list[float] = []
    many: list[float] = []
    done_one = done_many = 0
    for s, session in enumerate(sessions):
        sid = f"s{s}"
        if done_one < per_message:
            for message in session:
                t0 = time.perf_counter()
                mem.add(message, user_id=USER, session_id=sid)
                one.append(time.perf_counter() - t0)
            done_one += len(session)
        else:
            t0 = time.perf_counter()
            mem.add(session, user_id=USER, session_id=sid)
            many.append(time.perf_counter() - t0)
            done_many += len(session)
    t0 = time.perf_counter()
    mem.flush(user_id=USER)
    flush_s = time.perf_counter() - t0

    def rate(calls: list[float], turns: int) -> float | None:
        return round(turns / sum(calls), 1) if calls else None

    return {
        "per_message": {"turns": done_one, "turns_per_s": rate(one, done_one), **summary(one)},
        "per_session": {
            "turns": done_many,
            "turns_per_s": rate(many, done_many),
            "turns_per_call": SESSION_TURNS,
            **summary(many),
        },
        "flush_s": round(flush_s, 2),
    }


def _timed(calls: Sequence[Callable[[], object]]) -> list[float]:
    out = []
    for call in calls:
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def _fresh(mem: Memory) -> None:
    """Forget the kept query vectors: each phase embeds its questions, as new questions are
    (search keeps a line's vector once embedded; asked again, a question embeds nothing)."""
    mem.searcher.query_vectors.clear()


def _query_times(mem: Memory, questions: list[str]) -> dict[str, Any]:
    first = _timed([lambda: mem.search(questions[0], user_id=USER)])[0]
    _fresh(mem)
    search = _timed([partial(mem.search, q, user_id=USER) for q in questions])
    _fresh(mem)
    context = _timed(
        [partial(mem.context, q, user_id=USER, budget_tokens=CONTEXT_TOKENS) for q in questions]
    )
    embed = _timed([partial(mem.embedder.embed, [q]) for q in questions])
    return {
        "first_search_ms": round(first * 1e3, 1),
        "search": summary(search),
        "context": summary(context),
        "embedding": summary(embed),
    }


def _rest(mem: Memory, questions: list[str]) -> dict[str, Any]:
    from fastapi.testclient import TestClient

    from lightmem.server.keys import KeyStore
    from lightmem.server.rest.app import create_app

    keys = KeyStore.for_memory(mem)
    key, _ = keys.create(users=[USER], name="bench")
    auth = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(mem, keys)) as client:
        client.post("/v1/search", json={"query": questions[0]}, headers=auth)  # warm-up

        def post(path: str, body: dict[str, Any]) -> None:
            r = client.post(path, json=body, headers=auth)
            r.raise_for_status()

        _fresh(mem)
        search = _timed([partial(post, "/v1/search", {"query": q}) for q in questions])
        _fresh(mem)
        context = _timed(
            [
                partial(post, "/v1/context", {"query": q, "budget_tokens": CONTEXT_TOKENS})
                for q in questions
            ]
        )
    return {"search": summary(search), "context": summary(context)}


def run_one(
    n: int, turns: list[tuple[str, str]], questions: list[str], config: dict[str, Any]
) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="lightmem-heavy-"))
    try:
        sessions = sessions_of(turns, n)
        with Memory(folder, config=config) as mem:
            t0 = time.perf_counter()
            adds = _add(mem, sessions, min(PER_MESSAGE, n // 10))
            adds["total_s"] = round(time.perf_counter() - t0, 1)
            row: dict[str, Any] = {"turns": n, "adds": adds, **_query_times(mem, questions)}
            row["rss_mb"] = current_rss_mb()
        t0 = time.perf_counter()
        # as a server opens it: extraction in background threads, the embedder loaded while
        # it starts (timed apart), then the first search: the owner's index
        with Memory(folder, config={**config, "worker": {"background": True}}) as mem:
            opened = time.perf_counter() - t0
            t1 = time.perf_counter()
            mem.embedder.warm()
            warm = time.perf_counter() - t1
            first = _timed([lambda: mem.search(questions[-1], user_id=USER)])[0]
            row["reopen"] = {
                "open_s": round(opened, 2),
                "embedder_load_s": round(warm, 2),
                "first_search_ms": round(first * 1e3, 1),
            }
            row["rest"] = _rest(mem, questions)
        return row
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _burn(stop: Any) -> None:
    x = 0
    while not stop.is_set():
        for i in range(100_000):
            x ^= i


def contention(
    turns: list[tuple[str, str]], config: dict[str, Any], n: int = 2000
) -> dict[str, Any]:
    """Ingest of ``n`` turns per session, quiet then beside one CPU-bound process."""

    def ingest() -> float:
        folder = Path(tempfile.mkdtemp(prefix="lightmem-contention-"))
        try:
            with Memory(folder, config=config) as mem:
                mem.add("warm-up", user_id="w")
                t0 = time.perf_counter()
                for s, session in enumerate(sessions_of(turns, n)):
                    mem.add(session, user_id=USER, session_id=f"s{s}")
                mem.flush(user_id=USER)
                return n / (time.perf_counter() - t0)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    quiet = ingest()
    ctx = multiprocessing.get_context("spawn")
    stop = ctx.Event()
    burner = ctx.Process(target=_burn, args=(stop,), daemon=True)
    burner.start()
    try:
        time.sleep(0.5)
        busy = ingest()
    finally:
        stop.set()
        burner.join(5)
    return {
        "turns": n,
        "quiet_turns_per_s": round(quiet, 1),
        "competing_turns_per_s": round(busy, 1),
        "ratio": round(busy / quiet, 2),
    }


def run_heavy_user(
    sizes: Sequence[int],
    *,
    data: Path,
    embedder: dict[str, Any],
    queries: int = 100,
    progress: Progress | None = None,
    with_contention: bool = True,
) -> dict[str, Any]:
    say = progress or (lambda _m: None)
    turns, questions = chat_turns(data)
    step = max(1, len(questions) // queries)
    asked = questions[::step][:queries]
    config = {"embedder": embedder, "llm": "none"}
    out: dict[str, Any] = {
        "settings": {
            "embedder": embedder,
            "queries": len(asked),
            "per_message_turns": PER_MESSAGE,
            "session_turns": SESSION_TURNS,
            "context_tokens": CONTEXT_TOKENS,
            "data": "REALTALK and LoCoMo dev turns, cycled",
        }
    }
    for n in sizes:
        say(f"heavy user: {n:,} turns")
        out[str(n)] = run_one(n, turns, asked, config)
    if with_contention:
        say("heavy user: ingest beside a competing process")
        out["contention"] = contention(turns, config)
    return out


def heavy_tables(heavy: dict[str, Any] | None) -> list[tuple[str, list[str], list[list[str]]]]:
    if not heavy:
        return []
    sizes = sorted((k for k in heavy if k.isdigit()), key=int)
    head = [
        "turns",
        "search p50 / p95 ms",
        "context p50 / p95 ms",
        "embedding p50 / p95 ms",
        "first search ms",
        "reopen: first search ms",
        "REST search p95 ms",
        "REST context p95 ms",
    ]

    def pair(d: dict[str, Any]) -> str:
        return f"{d['p50_ms']:.1f} / {d['p95_ms']:.1f}"

    rows = []
    for k in sizes:
        r = heavy[k]
        rows.append(
            [
                f"{int(k):,}",
                pair(r["search"]),
                pair(r["context"]),
                pair(r["embedding"]),
                f"{r['first_search_ms']:.0f}",
                f"{r['reopen']['first_search_ms']:.0f}",
                f"{r['rest']['search']['p95_ms']:.1f}",
                f"{r['rest']['context']['p95_ms']:.1f}",
            ]
        )
    out = [
        (
            "one heavy user, public API, no LLM (search and context include the embedding)",
            head,
            rows,
        )
    ]
    head2 = ["turns", "per message: turns/s", "add p50 / p95 ms", "per session: turns/s", "flush s"]
    rows2 = []
    for k in sizes:
        a = heavy[k]["adds"]
        rows2.append(
            [
                f"{int(k):,}",
                str(a["per_message"]["turns_per_s"]),
                pair(a["per_message"]) if a["per_message"]["n"] else "-",
                str(a["per_session"]["turns_per_s"]),
                str(a["flush_s"]),
            ]
        )
    out.append(("one heavy user: Memory.add, one message vs one session per call", head2, rows2))
    c = heavy.get("contention")
    if c:
        out.append(
            (
                "ingest beside one CPU-bound process (A/B, same run)",
                ["turns", "quiet turns/s", "competing turns/s", "ratio"],
                [
                    [
                        str(c["turns"]),
                        str(c["quiet_turns_per_s"]),
                        str(c["competing_turns_per_s"]),
                        f"{c['ratio']}",
                    ]
                ],
            )
        )
    return out
