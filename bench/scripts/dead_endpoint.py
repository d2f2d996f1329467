"""Ingest with the LLM endpoint down (issue 19, finding 2), as a first-hour user meets it.

    .venv/bin/python bench/scripts/dead_endpoint.py [--turns 476] [--json out.json]

Runs ``lightmem ingest`` of a generated conversation (``--turns`` turns, one user, eight
sessions) in fresh stores: without an LLM (the default, and with the segmenter LLM mode
uses, so that the comparison is of like with like), with ``OPENAI_BASE_URL`` at a closed
port, and then ``lightmem flush`` of that store once an endpoint answers (the fake
OpenAI-compatible server of the test suite). Prints the wall time of each run, how many
lines each wrote to stderr, and the entries each store holds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # the fake endpoint lives with the tests

from tests.fakes.openai_server import FakeOpenAIServer  # noqa: E402

TOPICS = (
    "my cat Pixel eats salmon kibble",
    "the new nursing job at Riverside",
    "a trip to Lisbon in October",
    "pottery classes on Thursday",
    "the garden tomatoes are ripening",
    "learning Portuguese with an app",
    "my brother's wedding in June",
    "running a half marathon in spring",
)


def conversation(path: Path, turns: int) -> None:
    rng = random.Random(1)
    per_session = -(-turns // 8)
    lines = []
    for i in range(turns):
        s, k = divmod(i, per_session)
        speaker = "Maya" if k % 2 == 0 else "Jonas"
        lines.append(
            {
                "role": "user",
                "speaker": speaker,
                "content": f"{speaker} talks about {rng.choice(TOPICS)}, note {s}-{k}, "
                f"with detail number {rng.randint(1, 999)}.",
                "session_id": f"s{s}",
                "timestamp": f"2024-0{1 + s}-01T10:{k % 60:02d}:00",
                "user_id": "maya",
            }
        )
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends


def lightmem(store: Path, env: dict[str, str], *args: str) -> dict[str, Any]:
    exe = Path(sys.executable).with_name("lightmem")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [str(exe), "--store", str(store), *args], env=env, capture_output=True, text=True
    )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"lightmem {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    stderr = [line for line in proc.stderr.splitlines() if line.strip()]
    return {"seconds": round(seconds, 2), "stderr_lines": stderr, "stdout": proc.stdout}


def entries(store: Path, env: dict[str, str]) -> dict[str, Any]:
    stats = json.loads(lightmem(store, env, "stats", "--json")["stdout"])
    keys = ("entries", "pending_batches", "failed_batches", "buffered_turns")
    return {k: stats[k] for k in keys} | {"extraction": stats["extraction"]["state"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=476)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "LIGHTMEM_"))}
    base["HF_HUB_OFFLINE"] = "1"
    out: dict[str, Any] = {"turns": args.turns}
    with tempfile.TemporaryDirectory(prefix="lightmem-dead-") as tmp:
        data = Path(tmp) / "turns.jsonl"
        conversation(data, args.turns)
        runs = {
            "no_llm": base,
            "no_llm_llm_segmenter": base | {"LIGHTMEM_SEGMENTER__PROVIDER": "combined"},
            "endpoint_down": base
            | {"OPENAI_BASE_URL": f"http://127.0.0.1:{closed_port()}/v1", "OPENAI_API_KEY": "x"},
        }
        for name, env in runs.items():
            store = Path(tmp) / name
            run = lightmem(store, env, "ingest", str(data), "--format", "jsonl", "--quiet")
            out[name] = {"seconds": run["seconds"], "stderr": run["stderr_lines"]}
            out[name] |= entries(store, env)
        with FakeOpenAIServer() as server:  # the endpoint is back
            n = [0]

            def answer(body: dict[str, Any]) -> str:
                n[0] += 1
                return json.dumps({"memories": [{"text": f"Fact {n[0]}.", "sources": [1]}]})

            server.chat_responder = answer
            env = runs["endpoint_down"] | {"OPENAI_BASE_URL": server.base_url}
            store = Path(tmp) / "endpoint_down"
            run = lightmem(store, env, "flush", "--json")
            out["endpoint_back_flush"] = {
                "seconds": run["seconds"],
                "flush": json.loads(run["stdout"]),
                "chat_calls": len(server.chat_requests),
            } | entries(store, env)
    down, like = out["endpoint_down"]["seconds"], out["no_llm_llm_segmenter"]["seconds"]
    out["ratio_down_vs_no_llm"] = round(down / out["no_llm"]["seconds"], 2)
    out["ratio_down_vs_no_llm_same_segmenter"] = round(down / like, 2)
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
