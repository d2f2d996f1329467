"""``lightmem bench perf --noisy-tenant N[,N...]``: what one large tenant's work does to the
others on the same server.

For each N: a store with one tenant of N memories (one-line notes added through
``Memory.add``, no LLM) and a small one; ``lightmem serve`` started on it as a user starts it
(its own process, the store's own config). The small tenant calls ``GET /v1/me`` every 20 ms
while the large one, in turn: exports everything (``GET /v1/export``, read to the end), makes
its first search (the owner's index is built), searches back to back for a few seconds, makes
its first search again after the server was stopped (SIGTERM) and started on the same port
(``snapshot_search``: the index is read from the snapshot the stop wrote, see
docs/scaling.md#index-snapshots), and forgets the memories that name one item
(``POST /v1/forget``, confirmed). Before each, 100 idle calls give the idle figure; the
target is a p95 within 2x of it.

JSON: ``noisy_tenant.<N>.<export|first_search|search|snapshot_search|forget>`` with ``idle``
and ``during`` (p50/p95 ms of the small tenant's calls), ``ratio_p95`` and what the large
tenant's work did (``seconds``, ``lines``, ``searches``, ``memories``; ``snapshot_file``:
whether the stop wrote one).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from lightmem import Memory
from lightmem.server.keys import KeyStore
from lightmem_bench.perf.scaleout.cluster import Child, free_port, spawn, wait_healthy
from lightmem_bench.perf.stats import summary

Progress = Callable[[str], None]
BIG, SMALL = "big", "small"
IDLE_CALLS = 100
POLL_S = 0.02
SEARCH_S = 5.0
CHUNK = 500
OPERATIONS = ("export", "first_search", "search", "snapshot_search", "forget")


def note(j: int) -> str:
    return f"w{j} note about item {j % 97} on day {j % 31}"


def run_noisy_tenant(
    sizes: Sequence[int],
    *,
    embedder: dict[str, Any],
    progress: Progress | None = None,
    search_s: float = SEARCH_S,
    retrieval: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``retrieval``: settings of the store's ``retrieval`` section (default: the defaults)."""
    out: dict[str, Any] = {}
    for n in sizes:
        with tempfile.TemporaryDirectory(prefix="lightmem-neighbour-") as tmp:
            work = Path(tmp)
            if progress:
                progress(f"noisy tenant: {n:,} memories")
            big_key, small_key = build(work / "store", n, embedder, retrieval or {})
            server = Restartable(work)
            try:
                url = server.child.url or ""
                out[str(n)] = measure(url, big_key, small_key, search_s, progress, server.restart)
            finally:
                server.child.stop()
    return out


class Restartable:
    """``lightmem serve`` on the store in ``work``, stopped and started on the same port."""

    def __init__(self, work: Path) -> None:
        self.work, self.port = work, free_port()
        self.child = start(work, self.port)
        wait_healthy([self.child])

    def restart(self) -> bool:
        """Stop (SIGTERM: the store closes and writes its snapshots) and start again;
        whether the stop left a snapshot for the new server to read."""
        self.child.stop()
        written = any((self.work / "store" / "lightmem.sqlite3.index").glob("*.idx"))
        self.child = start(self.work, self.port)
        wait_healthy([self.child])
        return written


def build(
    path: Path, n: int, embedder: dict[str, Any], retrieval: dict[str, Any] | None = None
) -> tuple[str, str]:
    """The store: ``n`` one-line memories of the large tenant, one of the small; a key each."""
    config = {"embedder": embedder, "llm": "none", "retrieval": retrieval or {}}
    with Memory(path, config=config) as memory:
        for first in range(0, n, CHUNK):
            lines = [note(j) for j in range(first, min(n, first + CHUNK))]
            memory.add([{"role": "user", "content": t} for t in lines], user_id=BIG)
        memory.add([{"role": "user", "content": "a small tenant's note"}], user_id=SMALL)
        memory.flush()
        keys = KeyStore.for_memory(memory)
        big, _ = keys.create(users=[BIG], name="big")
        small, _ = keys.create(users=[SMALL], name="small")
    return big, small


def start(work: Path, port: int) -> Child:
    argv = ["--store", str(work / "store"), "serve", "--port", str(port)]
    return spawn("serve", argv, work, url=f"http://127.0.0.1:{port}")


def measure(
    url: str,
    big_key: str,
    small_key: str,
    search_s: float,
    progress: Progress | None,
    restart: Callable[[], bool],
) -> dict[str, Any]:
    big = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {big_key}"}, timeout=900)
    small = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {small_key}"})
    with big, small:
        poll(small, 10)  # connections and the key cache warm
        work: dict[str, Callable[[], dict[str, Any]]] = {
            "export": lambda: export(big),
            "first_search": lambda: {**searches(big, 0.0), "seconds": None},
            "search": lambda: searches(big, search_s),
            "snapshot_search": lambda: {**searches(big, 0.0), "seconds": None},
            "forget": lambda: forget(big),
        }
        out: dict[str, Any] = {}
        for name in OPERATIONS:
            if progress:
                progress(f"  {name}")
            written = name == "snapshot_search" and restart()
            if name == "snapshot_search":
                poll(small, 10)
            idle = summary([ms / 1e3 for ms in poll(small, IDLE_CALLS)])
            did, during_ms = beside(work[name], small)
            if name == "snapshot_search":
                did["snapshot_file"] = written
            during = summary([ms / 1e3 for ms in during_ms])
            ratio = round(during["p95_ms"] / idle["p95_ms"], 2)
            out[name] = {"idle": idle, "during": during, "ratio_p95": ratio, **did}
    return out


def beside(
    job: Callable[[], dict[str, Any]], small: httpx.Client
) -> tuple[dict[str, Any], list[float]]:
    """``job`` on a thread while the small tenant polls; (its result, the polls' ms)."""
    done = threading.Event()
    result: dict[str, Any] = {}
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.update(job())
        except BaseException as exc:  # noqa: BLE001 - raised below, in the caller
            failure.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    during: list[float] = []
    while not done.is_set():
        during += poll(small, 1)
    thread.join()
    if failure:
        raise failure[0]
    return result, during


def poll(client: httpx.Client, n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        client.get("/v1/me").raise_for_status()
        out.append((time.perf_counter() - start) * 1e3)
        time.sleep(POLL_S)
    return out


def export(big: httpx.Client) -> dict[str, Any]:
    start = time.perf_counter()
    lines = 0
    with big.stream("GET", "/v1/export") as r:
        r.raise_for_status()
        for chunk in r.iter_bytes():
            lines += chunk.count(b"\n")
    return {"seconds": round(time.perf_counter() - start, 2), "lines": lines}


def searches(big: httpx.Client, seconds: float) -> dict[str, Any]:
    """Searches back to back for ``seconds`` (at least one)."""
    start = time.perf_counter()
    n = 0
    while n == 0 or time.perf_counter() - start < seconds:
        body = {"query": f"what was the note about item {n % 97}?", "limit": 10}
        big.post("/v1/search", json=body).raise_for_status()
        n += 1
    took = time.perf_counter() - start
    return {"searches": n, "seconds": round(took, 2), "mean_ms": round(took / n * 1e3, 1)}


def forget(big: httpx.Client) -> dict[str, Any]:
    start = time.perf_counter()
    r = big.post("/v1/forget", json={"query": "item 7", "confirm": True})
    r.raise_for_status()
    return {"seconds": round(time.perf_counter() - start, 2), "memories": len(r.json()["memories"])}


def neighbour_tables(result: dict[str, Any] | None) -> list[tuple[str, list[str], list[list[str]]]]:
    if not result:
        return []
    head = [
        "memories",
        "large tenant's work",
        "idle p50 / p95 ms",
        "during p50 / p95 ms",
        "p95 ratio",
        "work",
    ]
    rows = []
    for size in sorted((k for k in result if k.isdigit()), key=int):
        for name in OPERATIONS:
            r = result[size].get(name)
            if r is None:  # a section an older run wrote, before this operation was timed
                continue
            work = ", ".join(
                f"{k} {v}"
                for k, v in r.items()
                if k not in ("idle", "during", "ratio_p95") and v is not None
            )
            rows.append(
                [
                    f"{int(size):,}",
                    name.replace("_", " "),
                    f"{r['idle']['p50_ms']:.1f} / {r['idle']['p95_ms']:.1f}",
                    f"{r['during']['p50_ms']:.1f} / {r['during']['p95_ms']:.1f}",
                    f"{r['ratio_p95']:.2f}",
                    work,
                ]
            )
    return [
        ("another tenant's GET /v1/me while one large tenant works (lightmem serve)", head, rows)
    ]
