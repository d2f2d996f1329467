"""The per-owner search indexes of one store, least recently searched dropped first once
the memory budget is spent. An index is valid for one revision of its owner (``owner_revs``,
moved by triggers on every write that can change a result, in any process); a search
checks that one row and reloads only a stale owner. A large owner's ANN graph survives a
reload and catches up from the change feed instead of being rebuilt."""

from __future__ import annotations

import sqlite3
from collections import OrderedDict
from typing import Any

from lightmem.stores.sqlite.ann import AnnIndex, AnnSettings
from lightmem.stores.sqlite.search import OwnerIndex, active_count, load_owner, owner_key, owner_rev
from lightmem.types import Scope


class SearchCache:
    """Owner indexes, least recently searched dropped first once ``budget`` bytes are held.
    Used only inside the store's lock, so it needs none of its own."""

    def __init__(
        self,
        dim: int,
        budget: int,
        ann: AnnSettings | None = None,
        ann_threshold: int | None = None,
    ) -> None:
        self.dim = dim
        self.budget = budget
        self.ann = ann
        self.ann_threshold = ann_threshold
        self._owners: OrderedDict[str, OwnerIndex] = OrderedDict()
        self.hits = 0
        self.loads = 0
        self.evictions = 0

    def get(self, conn: sqlite3.Connection, owner: Scope) -> OwnerIndex:
        key = owner_key(owner)
        rev = owner_rev(conn, key)
        found = self._owners.get(key)
        if found is not None and found.rev == rev:
            self._owners.move_to_end(key)
            self.hits += 1
            return found
        self.loads += 1
        graph = None
        if found is not None:
            del self._owners[key]
            graph = found.ann
        large = (
            self.ann is not None
            and self.ann_threshold is not None
            and active_count(conn, owner) > self.ann_threshold
        )
        index = load_owner(conn, owner, key, rev, self.dim, large=large)
        if large:
            assert self.ann is not None
            index.ann = graph if graph is not None else AnnIndex(self.ann, key, self.dim)
            index.ann.refresh(conn, owner, rev)
        elif graph is not None:
            graph.detach()
        self._owners[key] = index
        self.trim()
        return index

    def trim(self) -> None:
        """Drop least recently searched owners until the budget holds (the newest stays)."""
        total = sum(i.nbytes for i in self._owners.values())
        while total > self.budget and len(self._owners) > 1:
            _, dropped = self._owners.popitem(last=False)
            total -= dropped.nbytes
            self.evictions += 1
            if dropped.ann is not None:
                dropped.ann.detach()

    def clear(self) -> None:
        for index in self._owners.values():
            if index.ann is not None:
                index.ann.detach()
        self._owners.clear()

    def stats(self) -> dict[str, Any]:
        return {
            "owners": len(self._owners),
            "bytes": sum(i.nbytes for i in self._owners.values()),
            "budget_bytes": self.budget,
            "hits": self.hits,
            "loads": self.loads,
            "evictions": self.evictions,
            "ann_owners": sum(1 for i in self._owners.values() if i.ann is not None),
        }
