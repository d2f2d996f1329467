"""The per-owner search indexes of one store, least recently searched dropped first once
the memory budget is spent. An index is valid for one revision of its owner (``owner_revs``,
moved by triggers on every write that can change a result, in any process); a search
checks that one row, and an index whose owner moved is brought forward from the change
feed (the entries written since), touching only what changed. Only an owner seen for the
first time, or whose feed is long, is loaded whole; a large owner then starts from the
entry-list snapshot in its sidecar when there is one. A large owner's ANN graph lives in
``ann.py``; the sidecar of an owner that is no longer large is deleted."""

from __future__ import annotations

import contextlib
import sqlite3
from collections import OrderedDict
from typing import Any

import numpy as np

from lightmem.stores.sqlite import sidecar
from lightmem.stores.sqlite.ann import AnnIndex, AnnSettings
from lightmem.stores.sqlite.search import (
    OwnerIndex,
    Slots,
    active_count,
    load_owner,
    owner_key,
    owner_rev,
    read_delta,
)
from lightmem.types import Scope

#: A feed of more than this many changes (or a tenth of the owner) loads the owner whole.
DELTA_MIN = 5_000


class SearchCache:
    """Owner indexes, least recently searched dropped first once ``budget`` bytes are held.
    Used only under the store's cache lock, so it needs none of its own."""

    def __init__(
        self,
        dim: int,
        budget: int,
        ann: AnnSettings | None = None,
        ann_threshold: int | None = None,
        db_path: str = ":memory:",
    ) -> None:
        self.dim = dim
        self.budget = budget
        self.ann = ann
        self.ann_threshold = ann_threshold
        self.db_path = db_path
        self._owners: OrderedDict[str, OwnerIndex] = OrderedDict()
        self.hits = 0
        self.loads = 0
        self.deltas = 0
        self.snapshot_loads = 0
        self.evictions = 0
        self.sidecars_removed = 0

    def _large(self, count: int) -> bool:
        return (
            self.ann is not None and self.ann_threshold is not None and count > self.ann_threshold
        )

    def get(self, conn: sqlite3.Connection, owner: Scope) -> OwnerIndex:
        key = owner_key(owner)
        rev = owner_rev(conn, key)
        found = self._owners.get(key)
        if found is not None and found.rev == rev:
            self._owners.move_to_end(key)
            self.hits += 1
            index = found
        else:
            forward = self._forward(conn, found, rev) if found is not None else None
            index = forward if forward is not None else self._load(conn, owner, key, rev, found)
            self._owners[key] = index
            self._owners.move_to_end(key)
        if index.ann is not None:
            index.ann.refresh(conn, owner, rev)
        self.trim()
        return index

    def _forward(self, conn: sqlite3.Connection, found: OwnerIndex, rev: int) -> OwnerIndex | None:
        """``found`` brought to ``rev`` from the feed; None when it must be loaded whole."""
        limit = max(DELTA_MIN, found.slots.size // 10)
        delta = read_delta(
            conn, found.key, found.rev, vectors=found.matrix is not None, limit=limit
        )
        if delta is None or delta.size == 0:
            return None  # a long feed, or a change the feed does not show (an entry moved out)
        index = found.apply(delta, rev, self.dim)
        if self._large(index.slots.size) != (found.matrix is None):
            return None  # crossed the ANN threshold
        self.deltas += 1
        return index

    def _load(
        self, conn: sqlite3.Connection, owner: Scope, key: str, rev: int, old: OwnerIndex | None
    ) -> OwnerIndex:
        self.loads += 1
        if old is not None:
            del self._owners[key]
        graph = old.ann if old is not None else None
        count = active_count(conn, owner)
        large = self._large(count)
        if not large:
            if graph is not None:
                graph.detach()
            self._remove_sidecar(key)
            return load_owner(conn, owner, key, rev, self.dim, large=False)
        assert self.ann is not None
        index = self._snapshot(conn, key, rev, count)
        if index is None:
            index = load_owner(conn, owner, key, rev, self.dim, large=True)
        index.ann = graph if graph is not None else AnnIndex(self.ann, key, self.dim, self.db_path)
        return index

    def _snapshot(
        self, conn: sqlite3.Connection, key: str, rev: int, count: int
    ) -> OwnerIndex | None:
        """The owner from its saved entry list plus the feed since; None when there is
        none, or it does not add up to the ``count`` of active entries."""
        folder = self.ann.folder if self.ann is not None else None
        meta = sidecar.read_meta(folder, key) if folder is not None else None
        if meta is None or meta.slots is None or meta.slots_rev > rev:
            return None
        loaded = sidecar.load_slots(folder / meta.slots)  # type: ignore[operator]
        if loaded is None:
            return None
        pks, ids, runs, times, has_vector = loaded
        slots = Slots(pks, _objects(ids), _objects(runs), times)
        index = OwnerIndex(key, meta.slots_rev, slots, None, has_vector)
        if meta.slots_rev < rev:
            delta = read_delta(
                conn, key, meta.slots_rev, vectors=False, limit=max(DELTA_MIN, count // 10)
            )
            if delta is None:
                return None
            index = index.apply(delta, rev, self.dim)
        if index.slots.size != count:
            return None
        index.extra_bytes = 0
        self.snapshot_loads += 1
        return index

    def save_snapshot(self, index: OwnerIndex) -> None:
        """Write a large owner's entry list beside its graph (at close, or on eviction)."""
        folder = self.ann.folder if self.ann is not None else None
        if folder is None or index.ann is None:
            return
        with index.ann.meta_lock:
            meta = sidecar.read_meta(folder, index.key)
            if meta is None or meta.slots_rev == index.rev:
                return
            tmp, final = sidecar.new_file(folder, index.key, index.rev, ".slots.npz")
            s = index.slots
            if not sidecar.save_slots(
                tmp, s.pks, list(s.ids), list(s.runs), s.times, index.has_vector
            ):
                return
            sidecar.publish(tmp, final)
            sidecar.write_meta(
                folder,
                sidecar.Meta(
                    meta.owner,
                    meta.params,
                    meta.rev,
                    meta.graph,
                    meta.removed,
                    index.rev,
                    final.name,
                ),
            )

    def _remove_sidecar(self, key: str) -> None:
        folder = self.ann.folder if self.ann is not None else None
        if folder is not None and folder.is_dir() and sidecar.meta_path(folder, key).exists():
            with contextlib.suppress(OSError):
                self.sidecars_removed += sidecar.remove(folder, key)

    def sweep(self, conn: sqlite3.Connection, is_large: Any) -> None:
        """At open: delete the sidecars of owners that are no longer large, and leftovers."""
        folder = self.ann.folder if self.ann is not None else None
        if folder is None or not folder.is_dir():
            return
        for key in sidecar.owners(folder):
            if not is_large(conn, key):
                self._remove_sidecar(key)
        with contextlib.suppress(OSError):
            sidecar.remove_leftovers(folder)

    def _release(self, index: OwnerIndex) -> None:
        if index.ann is None:
            return
        index.ann.detach()
        try:
            self.save_snapshot(index)
        except OSError as exc:  # a snapshot is a cache: the next open loads the owner
            index.ann.errors = [*index.ann.errors[-9:], f"entry-list snapshot: {exc}"]

    def trim(self) -> None:
        """Drop least recently searched owners until the budget holds (the newest stays)."""
        total = sum(i.nbytes for i in self._owners.values())
        while total > self.budget and len(self._owners) > 1:
            _, dropped = self._owners.popitem(last=False)
            total -= dropped.nbytes
            self.evictions += 1
            self._release(dropped)

    def clear(self) -> None:
        for index in self._owners.values():
            self._release(index)
        self._owners.clear()

    def wait(self, timeout: float | None = None) -> bool:
        return all(i.ann.wait(timeout) for i in self._owners.values() if i.ann is not None)

    def stats(self) -> dict[str, Any]:
        anns = [i.ann for i in self._owners.values() if i.ann is not None]
        return {
            "owners": len(self._owners),
            "bytes": sum(i.nbytes for i in self._owners.values()),
            "budget_bytes": self.budget,
            "hits": self.hits,
            "loads": self.loads,
            "deltas": self.deltas,
            "snapshot_loads": self.snapshot_loads,
            "evictions": self.evictions,
            "ann_owners": len(anns),
            "ann_ready": sum(1 for a in anns if a.ready),
            "ann_rebuilds": sum(a.rebuilds for a in anns),
            "ann_merges": sum(a.merges for a in anns),
            "ann_loads": sum(a.loads for a in anns),
            "ann_pending": sum(a.pending for a in anns),
            "ann_errors": [e for a in anns for e in a.errors],
            "sidecars_removed": self.sidecars_removed,
        }


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out
