"""SIGKILL in the middle of add / flush / consolidate loses no acknowledged turn and leaves a
store that opens and continues.

Each round starts a fresh interpreter, so start-up (about a second) dominates; the kill comes
0-0.4 s after the writer's first acknowledgement. ``LIGHTMEM_CRASH_ROUNDS`` sets the number
of rounds (default 50). ``tests/engine/test_sigkill.py`` aims kills at each step and
checks every entry as well."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from lightmem import Memory
from lightmem.types import TurnStage

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {
    "embedder": {"provider": "hash", "options": {"dim": 32}},
    "llm": {"provider": "tests.fakes.echo_llm.EchoLLM", "options": {"delay": 0.01}},
    "buffer": {"sensory_tokens": 40, "shortterm_tokens": 60},
    "consolidation": {"threshold": 0.2},
}

WORKER = r"""
import json, sys
from lightmem import Memory
store, cfg = sys.argv[1], json.loads(sys.argv[2])
mem = Memory(store, config=cfg)
# resume after the last turn the store holds (one may be stored but not yet acknowledged)
done = [int(t.content.split()[2]) for t in mem.turns(user_id="alice")]
start = max(done) + 1 if done else 0
for i in range(start, start + 10_000):
    text = f"turn number {i} about topic {i % 7} with cats and trips"
    mem.add({"role": "user", "name": "Maya", "content": text}, user_id="alice",
            session_id=f"s{i // 25}", timestamp=f"2024-01-01T00:00:{i % 60:02d}")
    print(i, flush=True)  # acknowledged: add() returned
    if i % 9 == 0:
        mem.flush()
    if i % 13 == 0:
        mem.consolidate()
"""


def run_and_kill(store: Path, seconds: float) -> list[int]:
    """Start a writer, wait for its first acknowledgement (start-up is slow on a loaded
    machine), let it run ``seconds`` more, then SIGKILL it. Returns the acknowledged turns."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen(
        [sys.executable, "-c", WORKER, str(store), json.dumps(CONFIG)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    deadline = time.monotonic() + 120
    while not lines and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(seconds)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    reader.join(timeout=10)
    err = proc.stderr.read() if proc.stderr else ""
    assert proc.returncode == -signal.SIGKILL, err[-2000:]
    return [int(line) for line in lines]


def test_sigkill_loses_no_acknowledged_turn(tmp_path: Path) -> None:
    store = tmp_path / "crash"
    rng = random.Random(7)
    acked: list[int] = []
    kills = 0
    for _ in range(int(os.environ.get("LIGHTMEM_CRASH_ROUNDS", "50"))):
        got = run_and_kill(store, rng.random() * 0.4)
        kills += 1
        acked += got
    assert acked, "the worker never acknowledged a turn"

    with Memory(store, config=CONFIG) as mem:
        turns = mem.turns(user_id="alice")
        numbers = [int(t.content.split()[2]) for t in turns]
        assert len(numbers) == len(set(numbers)), "a turn was stored twice"
        missing = set(acked) - set(numbers)
        assert not missing, f"acknowledged turns lost: {sorted(missing)[:10]}"
        mem.flush()
        turns = mem.turns(user_id="alice")
        assert all(t.stage == TurnStage.EXTRACTED for t in turns)
        # every entry is whole: its sources exist, it has a vector, history starts with ADD
        entries = mem.get_all(user_id="alice", include_deleted=True)
        ids = {t.id for t in turns}
        vectors = mem.store.entry_vectors([e.id for e in entries])
        for e in entries:
            assert set(e.sources) <= ids
            assert e.id in vectors
            assert mem.history(e.id)[0].event.value == "ADD"
        covered = {s for e in entries for s in e.sources}
        assert covered == ids, "a turn was extracted into no entry"
        mem.consolidate()
    print(f"kills={kills} acknowledged_turns={len(acked)} stored_turns={len(turns)}")
