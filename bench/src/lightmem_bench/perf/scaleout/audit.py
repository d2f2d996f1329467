"""What the workers did, checked against the store: the workers' journals (one JSON line
per batch completed and per decision applied, ``lightmem worker --journal``) and the
store's own record (done batches, decided consolidation pairs).

A decision applied twice would show as a (target, source) pair in two journaled decisions:
``apply_decision`` answers True only when it recorded the pairs, in the transaction that
applied the decision. A batch completed twice would show as its id journaled twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightmem.stores.base import Store
from lightmem.types import TurnStage


@dataclass(frozen=True, slots=True)
class Audit:
    decisions: int  # decisions journaled (applied by the store)
    decided_twice: int  # pairs journaled by more than one applied decision
    pairs_journaled: int  # distinct (target, source) pairs of those decisions
    pairs_stored: int  # pairs the store holds as decided
    pairs_unjournaled: int  # stored, in no journal (a worker killed after its commit)
    batches: int  # batch completions journaled
    batches_twice: int  # batch ids journaled more than once
    batches_done: int  # batches the store holds as done
    entries_journaled: int  # memories the journaled batches created

    @property
    def ok(self) -> bool:
        """Nothing applied twice, and the journals and the store agree."""
        return (
            self.decided_twice == 0
            and self.batches_twice == 0
            and self.pairs_journaled <= self.pairs_stored
            and self.batches <= self.batches_done
        )


def read_journals(paths: Iterable[Path]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in paths:
        if path.is_file():
            out += [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    return out


def audit(records: list[dict[str, Any]], store: Store) -> Audit:
    decisions = [r for r in records if r["event"] == "decision"]
    batches = Counter(r["batch"] for r in records if r["event"] == "batch")
    pairs = Counter((d["target"], s) for d in decisions for s in d["sources"])
    stored = {
        (r["target_id"], r["source_id"]) for r in store.export_records() if r["kind"] == "pair"
    }
    done = store.list_batches(None, ("done",))
    return Audit(
        decisions=len(decisions),
        decided_twice=sum(1 for n in pairs.values() if n > 1),
        pairs_journaled=len(pairs),
        pairs_stored=len(stored),
        pairs_unjournaled=len(stored - set(pairs)),
        batches=sum(batches.values()),
        batches_twice=sum(1 for n in batches.values() if n > 1),
        batches_done=len(done),
        entries_journaled=sum(r["entries"] for r in records if r["event"] == "batch"),
    )


def buffers_settled(store: Store, buffer_tokens: int) -> bool:
    """No owner has turns that a worker would still move: every sensory turn is prepared
    (compressed and counted) and an owner's sensory turns are fewer tokens than a buffer,
    no turn waits in short-term memory, no batch is pending or failed, no entry is queued
    for consolidation."""
    if store.list_batches(None, ("pending", "failed")) or store.consolidation_queue(None, 1):
        return False
    for owner in store.scopes():
        turns = store.list_turns(owner, stage=TurnStage.SENSORY)
        if any(t.compressed is None for t in turns):
            return False
        if sum(t.tokens for t in turns) >= buffer_tokens:
            return False
        if store.list_turns(owner, stage=TurnStage.SHORT_TERM, limit=1):
            return False
    return True


def wait_drained(
    store: Store, buffer_tokens: int, timeout_s: float, *, settle: int = 3, poll_s: float = 0.5
) -> float:
    """Wait until :func:`buffers_settled`, ``settle`` looks in a row; returns the seconds
    waited, or raises TimeoutError."""
    start = time.monotonic()
    calm = 0
    while calm < settle:
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"the workers did not drain the queues in {timeout_s:g} s")
        calm = calm + 1 if buffers_settled(store, buffer_tokens) else 0
        time.sleep(poll_s)
    return time.monotonic() - start - settle * poll_s
