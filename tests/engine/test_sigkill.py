"""SIGKILL during ingest, flush and consolidation, many times over: afterwards every
acknowledged turn is stored exactly once, no entry is half-updated, the file is sound, and
the store opens and carries on.

Each round forks a writer (from a warm fork server), waits until it reaches the step the
round aims at (an add, a flush, a consolidation, or anywhere from start-up on), lets it run
a random few milliseconds into it, and kills it. The step it was really in is read from its
marker log afterwards and counted.
"""

from __future__ import annotations

import random
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

from lightmem import Memory
from lightmem.types import Scope, TurnStage
from tests.support.integrity import (
    assert_entries_whole,
    assert_exactly_once,
    sqlite_integrity,
)
from tests.support.soak import scaled
from tests.support.workers import context, crash_writer, read_markers

CONFIG: dict[str, Any] = {
    "embedder": {"provider": "hash", "options": {"dim": 32}},
    "llm": {"provider": "tests.fakes.echo_llm.EchoLLM", "options": {"delay": 0.005}},
    "buffer": {"sensory_tokens": 40, "shortterm_tokens": 60},
    "consolidation": {"threshold": 0.2, "workers": 2},
    # events and session summaries are written by the same kills as the facts
    "extraction": {"mode": "event"},
}
ALICE = Scope("alice")
#: What each round aims at: the marker to wait for and the longest random delay after it.
TARGETS = {"add": 0.005, "flush": 0.01, "consolidate": 0.05, "anywhere": 0.4}
#: Generous: a loaded 2-core machine can take seconds to reach a marker.
MARKER_TIMEOUT_S = 120


def kill_round(store: Path, work: Path, n: int, target: str, rng: random.Random) -> list[str]:
    """One writer, killed at the aimed step; returns its marker log."""
    log, err = work / f"round{n}.log", work / f"round{n}.err"
    proc = context().Process(
        target=crash_writer, args=(str(store), CONFIG, str(log), str(err)), daemon=True
    )
    proc.start()
    marker = "start" if target == "anywhere" else target
    deadline = time.monotonic() + MARKER_TIMEOUT_S
    while proc.is_alive() and time.monotonic() < deadline:
        markers = read_markers(log)
        if any(m.split()[0] == marker for m in markers):
            break
        time.sleep(0.002)
    alive = proc.is_alive()
    if alive:
        time.sleep(rng.uniform(0, TARGETS[target]))
        proc.kill()
    proc.join(timeout=60)
    markers = read_markers(log)
    stderr = err.read_text()[-3000:] if err.exists() else ""
    assert alive and "error" not in markers, f"round {n}: the writer failed by itself:\n{stderr}"
    assert proc.exitcode == -signal.SIGKILL, (proc.exitcode, stderr)
    return markers


def phase_at_kill(markers: list[str]) -> str:
    """The step the writer was in when it died."""
    last = markers[-1].split()[0] if markers else "start"
    return {
        "start": "open",
        "open": "add",
        "add": "add",
        "ack": "add",
        "flush": "flush",
        "flushed": "add",
        "consolidate": "consolidate",
        "consolidated": "add",
    }[last]


def test_sigkill_during_ingest_flush_and_consolidation(tmp_path: Path) -> None:
    store, work = tmp_path / "store", tmp_path / "logs"
    work.mkdir()
    rng = random.Random(20240601)
    rounds = scaled(60, 400)
    acked: set[str] = set()
    phases: Counter[str] = Counter()
    targets = list(TARGETS)
    started = time.monotonic()
    for n in range(rounds):
        markers = kill_round(store, work, n, targets[n % len(targets)], rng)
        phases[phase_at_kill(markers)] += 1
        acked.update(m.split()[1] for m in markers if m.startswith("ack "))
    kill_seconds = time.monotonic() - started
    assert acked, "the writer never acknowledged a turn"
    assert phases["flush"] and phases["consolidate"], phases

    sqlite_integrity(store)
    with Memory(store, config=CONFIG) as mem:
        stored = [t.content.split()[2] for t in mem.turns(user_id="alice")]
        assert_exactly_once(stored, acked)
        before = assert_entries_whole(mem, ALICE)  # as the kills left it
        # Work resumes: whatever was buffered or batched is extracted, then consolidated.
        mem.flush()
        assert all(t.stage == TurnStage.EXTRACTED for t in mem.turns(user_id="alice"))
        assert not mem.consolidate().failed
        usage = mem.usage()
        assert usage.failed_batches == 0 and usage.pending_batches == 0
        after = assert_entries_whole(mem, ALICE)
        structure = assert_structure_whole(mem)
        mem.add("a brand new fact about the zeppelin museum", user_id="alice")
        mem.flush()
        assert "zeppelin" in mem.search("zeppelin museum", user_id="alice", limit=1)[0].text
    sqlite_integrity(store)
    print(
        f"\nkills={rounds} by step={dict(phases)} acknowledged_turns={len(acked)} "
        f"turns_checked={after.turns} entries_checked={before.entries}/{after.entries} "
        f"updates_checked={after.updates} kill_loop_s={kill_seconds:.1f} "
        f"events={structure[0]} summaries={structure[1]}"
    )


def assert_structure_whole(mem: Memory) -> tuple[int, int]:
    """After recovery: one summary per session, current with the session's turns; every
    event's facts and links name stored entries of its owner."""
    entries = mem.get_all(user_id="alice", include_deleted=True)
    by_id = {e.id: e for e in entries}
    events = [e for e in entries if e.kind == "event"]
    assert events, "no event was extracted"
    for ev in events:
        assert ev.meta["facts"] and all(by_id[f].kind == "fact" for f in ev.meta["facts"])
        assert all(by_id[link["to"]].kind == "event" for link in ev.meta["links"])
    active = [e for e in entries if e.kind == "summary" and e.status.value == "active"]
    sessions = Counter(e.meta["session_id"] for e in active)
    assert sessions and max(sessions.values()) == 1, sessions  # never two for one session
    turns = Counter(t.session_id for t in mem.turns(user_id="alice"))
    assert {s: e.meta["turns"] for s in sessions for e in active if e.meta["session_id"] == s} == {
        s: n for s, n in turns.items()
    }
    return len(events), len(active)
