"""The store contract's entry filters, run against every backend in ``BACKENDS``: the
entries of one kind, pinned or not (the proxy's stable part reads them)."""

from __future__ import annotations

from lightmem.stores.base import Store
from tests.stores.contract.test_store_contract import ALICE, add, entry, vec


def test_list_entries_of_a_kind_pinned_or_not(store: Store) -> None:
    add(
        store,
        (entry("e0", "fact 0"), vec(1, 0)),
        (entry("s0", "a summary", kind="summary"), vec(1, 1)),
    )
    add(store, (entry("e1", "fact 1"), vec(1, 2)))
    store.set_entry_flags("e1", pinned=True, actor="user")
    assert [e.id for e in store.list_entries(ALICE, kind="summary")] == ["s0"]
    assert [e.id for e in store.list_entries(ALICE, pinned=True)] == ["e1"]
    assert [e.id for e in store.list_entries(ALICE, pinned=False, kind="fact")] == ["e0"]
