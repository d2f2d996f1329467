"""Forget, flush and consolidate of a user who keeps adding (issue 19, finding 5), over REST.

    .venv/bin/python bench/scripts/steady_adds.py [--rate 80] [--warmup 10] [--json out.json]

``lightmem serve`` on a fresh store (the hash embedder, the background worker, and as LLM
the test suite's echo fake answering after ``--llm-delay`` seconds, every segment a batch:
extraction then never catches up, as with a real endpoint; ``--llm-delay 0``: no-LLM mode);
two client threads add to one user at ``--rate`` adds a second in all. After ``--warmup``
seconds, while the adds go on, the script times ``POST /v1/forget`` (confirmed),
``POST /v1/flush``, ``POST /v1/consolidate`` polled to its end, and a purging forget, one
after the other, then stops the adds.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from export_scale import CONFIG, ROOT, Server, auth

from lightmem import Memory
from lightmem.server.keys import KeyStore


def call(c: httpx.Client, name: str, body: dict[str, Any] | None, deadline: float) -> None:
    if name == "flush":
        c.post("/v1/flush", json={"user_id": "maya"}).raise_for_status()
    elif name == "consolidate":
        job = c.post("/v1/consolidate", json={"user_id": "maya"}).json()
        while job["status"] in ("queued", "running"):
            if time.perf_counter() > deadline:
                raise TimeoutError
            time.sleep(0.05)
            job = c.get(f"/v1/consolidate/{job['id']}").json()
    else:
        c.post("/v1/forget", json={**(body or {}), "user_id": "maya"}).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=80.0)
    parser.add_argument("--warmup", type=float, default=10.0)
    parser.add_argument("--limit", type=float, default=120.0, help="seconds a call may take")
    parser.add_argument("--llm-delay", type=float, default=0.25)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    out: dict[str, Any] = {"rate": args.rate}
    with tempfile.TemporaryDirectory(prefix="lightmem-adds-") as tmp:
        store = Path(tmp) / "store"
        config = dict(CONFIG)
        sys.path.insert(0, str(ROOT))  # the echo fake lives with the tests
        if args.llm_delay:
            config["llm"] = {
                "provider": "tests.fakes.echo_llm.EchoLLM",
                "options": {"delay": args.llm_delay},
            }
            config["buffer"] = {"sensory_tokens": 60, "shortterm_tokens": 0}
        with Memory(store, config=config) as mem:
            key, _ = KeyStore.for_memory(mem).create(users=["maya"], name="maya")
        server = Server(store)
        stop = threading.Event()
        added: list[float] = []

        def adder(n: int) -> None:
            with httpx.Client(base_url=server.url, headers=auth(key), timeout=120) as c:
                i, start = 0, time.monotonic()
                while not stop.is_set():
                    i += 1
                    text = f"note {n}-{i}: the kettle whistles at seven, zebra {i % 5}"
                    body = {"messages": text, "user_id": "maya"}
                    c.post("/v1/memories", json=body).raise_for_status()
                    added.append(time.monotonic())
                    time.sleep(max(0.0, start + i * 2 / args.rate - time.monotonic()))

        threads = [threading.Thread(target=adder, args=(n,)) for n in range(2)]
        for t in threads:
            t.start()
        try:
            time.sleep(args.warmup)
            took: dict[str, float | str] = {}
            with httpx.Client(base_url=server.url, headers=auth(key), timeout=args.limit) as c:
                for name, body in (
                    ("forget", {"query": "zebra 3", "confirm": True}),
                    ("flush", None),
                    ("consolidate", None),
                    ("purge", {"query": "zebra 4", "confirm": True, "purge": True}),
                ):
                    t0 = time.perf_counter()
                    try:
                        call(c, name, body, t0 + args.limit)
                    except (httpx.TimeoutException, TimeoutError):
                        took[name] = f"not done after {args.limit:g} s"
                        continue
                    took[name] = round(time.perf_counter() - t0, 2)
            out["seconds"] = took
            window = [a for a in added if a >= added[-1] - args.warmup]
            out["adds"] = len(added)
            out["adds_per_s_measured"] = round(len(window) / args.warmup, 1)
        finally:
            stop.set()
            for t in threads:
                t.join()
            server.stop()
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
