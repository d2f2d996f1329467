"""Export at size, and what it costs the other tenants (issue 19, finding 1's figures).

    .venv/bin/python bench/scripts/export_scale.py [--sizes 10000,20000,40000] [--json out.json]

For each size, a fresh store (SQLite, no-LLM mode, the hash embedder at MiniLM's 384
dimensions, so that rows are as large as with MiniLM) gets a tenant ``big`` with that many
one-line turns (each a memory) and a tenant ``small`` with a few; ``lightmem serve`` serves
it, and the script times ``GET /v1/export`` of ``big`` streamed to the end. On the largest
store it also measures ``small``'s ``GET /v1/me`` latency (p50, p95, max) idle, during the
export, during a loop of ``big``'s searches and during a forget preview of ``big`` that
matches every turn.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from lightmem import Memory
from lightmem.server.keys import KeyStore

CONFIG: dict[str, Any] = {
    "embedder": {"provider": "hash", "options": {"dim": 384}},
    "llm": "none",
    "segmenter": "similarity",
    "summaries": {"enabled": False},
}
ROOT = Path(__file__).resolve().parents[2]
WORDS = ("kettle", "zebra", "violin", "harbour", "lantern", "orchid", "pepper", "quarry")


def build(path: Path, size: int) -> dict[str, str]:
    """The store with ``size`` memories of ``big``; the two tenants' keys."""
    with Memory(path, config=CONFIG) as mem:
        chunk = 2000
        for start in range(0, size, chunk):
            n = min(chunk, size - start)
            mem.add(
                [
                    {"role": "user", "content": f"note {i} {WORDS[i % len(WORDS)]} lunch"}
                    for i in range(start, start + n)
                ],
                user_id="big",
            )
        mem.add([{"role": "user", "content": "small note"}] * 5, user_id="small")
        mem.flush()
        assert mem.count(user_id="big")[0] == size, mem.count(user_id="big")
        keys = KeyStore.for_memory(mem)
        big, _ = keys.create(users=["big"], name="big")
        small, _ = keys.create(users=["small"], name="small")
    return {"big": big, "small": small}


class Server:
    def __init__(self, store: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        exe = Path(sys.executable).with_name("lightmem")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LIGHTMEM_"))}
        # the test suite's fakes (a slow echo LLM) load by dotted path from the checkout
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [env.get("PYTHONPATH"), str(ROOT)]))
        self.proc = subprocess.Popen(
            [str(exe), "--store", str(store), "serve", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(self.url + "/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise SystemExit("lightmem serve did not start")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def export_seconds(url: str, key: str) -> tuple[float, int]:
    t0 = time.perf_counter()
    lines = 0
    with (
        httpx.Client(timeout=600) as c,
        c.stream("GET", url + "/v1/export", params={"user_id": "big"}, headers=auth(key)) as r,
    ):
        r.raise_for_status()
        for _ in r.iter_lines():
            lines += 1
    return time.perf_counter() - t0, lines


def latencies(url: str, key: str, *, until: Callable[[], bool], at_least: int) -> list[float]:
    out: list[float] = []
    with httpx.Client(timeout=600) as c:
        while len(out) < at_least or not until():
            t0 = time.perf_counter()
            c.get(url + "/v1/me", headers=auth(key)).raise_for_status()
            out.append(time.perf_counter() - t0)
            time.sleep(0.01)
    return out


def summary(xs: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in xs)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(p95, 1),
        "max_ms": round(ms[-1], 1),
    }


def during(url: str, key: str, work: Callable[[], object]) -> dict[str, Any]:
    """``small``'s /v1/me latency while ``work`` runs (in a thread)."""
    done = threading.Event()
    took: list[float] = []

    def run() -> None:
        t0 = time.perf_counter()
        try:
            work()
        finally:
            took.append(time.perf_counter() - t0)
            done.set()

    thread = threading.Thread(target=run)
    thread.start()
    lat = latencies(url, key, until=done.is_set, at_least=20)
    thread.join()
    return {"work_seconds": round(took[0], 2), "me": summary(lat)}


def contention(url: str, small: str, big: str) -> dict[str, Any]:
    """``small``'s /v1/me idle, and while ``big`` exports, searches and previews a forget."""

    def searches() -> None:
        with httpx.Client(timeout=600) as c:
            for w in WORDS * 3:
                body = {"query": f"{w} lunch", "user_id": "big", "limit": 10}
                c.post(url + "/v1/search", json=body, headers=auth(big)).raise_for_status()

    def forget_preview() -> None:
        body = {"query": "lunch", "user_id": "big", "confirm": False}
        with httpx.Client(timeout=600) as c:
            c.post(url + "/v1/forget", json=body, headers=auth(big)).raise_for_status()

    return {
        "me_idle": summary(latencies(url, small, until=lambda: True, at_least=200)),
        "me_during_export": during(url, small, lambda: export_seconds(url, big)),
        "me_during_search": during(url, small, searches),
        "me_during_forget_preview": during(url, small, forget_preview),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,20000,40000")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    out: dict[str, Any] = {"exports": []}
    with tempfile.TemporaryDirectory(prefix="lightmem-export-") as tmp:
        for size in sizes:
            store = Path(tmp) / f"s{size}"
            t0 = time.perf_counter()
            keys = build(store, size)
            built = time.perf_counter() - t0
            server = Server(store)
            try:
                seconds, lines = export_seconds(server.url, keys["big"])
                row = {"memories": size, "build_seconds": round(built, 1)}
                row |= {"export_seconds": round(seconds, 2), "records": lines}
                out["exports"].append(row)
                print(json.dumps(row), flush=True)
                if size == max(sizes):
                    out |= contention(server.url, keys["small"], keys["big"])
            finally:
                server.stop()
    first = out["exports"][0]
    for row in out["exports"]:
        row["per_1000_memories_s"] = round(row["export_seconds"] / row["memories"] * 1000, 3)
        row["vs_smallest"] = round(row["export_seconds"] / first["export_seconds"], 2)
    if "me_idle" in out:
        idle_p95 = out["me_idle"]["p95_ms"]
        for key in ("me_during_export", "me_during_search", "me_during_forget_preview"):
            out[key]["p95_vs_idle"] = round(out[key]["me"]["p95_ms"] / idle_p95, 2)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
