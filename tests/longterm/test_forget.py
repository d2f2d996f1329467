"""forget(): preview, tombstone, purge; pins; expiry; on every store backend."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from lightmem import Memory
from lightmem.errors import InputError, NotFoundError
from lightmem.longterm.forgetting import expiry_time, is_expired, matches
from lightmem.types import Entry, HistoryEvent

TEXTS = [
    "my sister Zoraida moved to Lisbon last spring",
    "I play tennis on Thursdays",
    "Zoraida and I are planning a trip",
]


def seed(mem: Memory, user: str = "alice") -> list[Entry]:
    mem.add([{"role": "user", "content": t} for t in TEXTS], user_id=user)
    mem.flush(user_id=user)
    return mem.get_all(user_id=user)


def test_matches_every_word_case_folded() -> None:
    assert matches("zoraida LISBON", "My sister Zoraida moved to Lisbon")
    assert not matches("zoraida paris", "My sister Zoraida moved to Lisbon")
    assert not matches("zor", "Zoraida")  # whole words only
    assert not matches("  ", "anything")


def test_expiry_time_pinned_own_and_default() -> None:
    from datetime import datetime

    from lightmem.types import Scope

    t0 = datetime(2024, 1, 1)
    e = Entry("e", Scope("u"), "x", created_at=t0)
    assert expiry_time(e, None) is None
    assert expiry_time(e, timedelta(days=1)) == datetime(2024, 1, 2)
    e.expires_at = datetime(2024, 1, 5)
    assert expiry_time(e, timedelta(days=1)) == datetime(2024, 1, 5)
    assert is_expired(e, datetime(2024, 1, 6), None)
    e.pinned = True
    assert not is_expired(e, datetime(2030, 1, 1), timedelta(days=1))


def test_preview_changes_nothing_then_tombstone(open_memory: Callable[[], Memory]) -> None:
    mem = open_memory()
    seed(mem)
    seed(mem, "bob")
    before = list(mem.export(user_id="alice"))
    preview = mem.forget("zoraida", user_id="alice", dry_run=True)
    assert not preview.done
    assert sorted(e.text for e in preview.memories) == sorted(f"user: {t}" for t in TEXTS[::2])
    assert len(preview.turns) == 2
    assert list(mem.export(user_id="alice")) == before

    done = mem.forget("zoraida", user_id="alice")
    assert done.done and not done.purged
    hits = mem.search("Zoraida Lisbon trip", user_id="alice", limit=10)
    assert not any("Zoraida" in h.text for h in hits)  # neither memories nor turns
    gone = preview.memories[0]
    assert [r.event for r in mem.history(gone.id)][-1] == HistoryEvent.FORGET
    # bob's Zoraida is his own
    assert any("Zoraida" in h.text for h in mem.search("Zoraida", user_id="bob"))


def test_forget_by_ids_outside_the_owner_is_not_found(open_memory: Callable[[], Memory]) -> None:
    mem = open_memory()
    bob = seed(mem, "bob")
    seed(mem)
    with pytest.raises(NotFoundError):
        mem.forget(ids=[bob[0].id], user_id="alice", purge=True)
    with pytest.raises(InputError):
        mem.forget(user_id="alice")
    assert len(mem.get_all(user_id="bob")) == 3


def test_pin_survives_consolidation_and_expiry(open_memory: Callable[[], Memory]) -> None:
    mem = open_memory()
    entries = seed(mem)
    pinned = mem.pin(entries[1].id, user_id="alice")
    assert pinned.pinned
    mem.set_default_ttl(1, user_id="alice")
    assert mem.default_ttl(user_id="alice") == timedelta(seconds=1)
    # Backdate by asking for expiry "now" through a per-memory TTL on another entry.
    mem.set_ttl(entries[0].id, 0.001, user_id="alice")
    import time

    time.sleep(1.1)
    left = mem.get_all(user_id="alice")
    assert [e.id for e in left] == [entries[1].id]  # expired ones are not returned
    assert not any(h.id == entries[0].id for h in mem.search("Lisbon", user_id="alice"))
    result = mem.consolidate(user_id="alice")
    assert result.expired == 2
    assert [e.id for e in mem.get_all(user_id="alice", include_deleted=True)] == [entries[1].id]
    events = [r.event for r in mem.history(entries[1].id)]
    assert HistoryEvent.PIN in events
    assert [r["cause"] for r in mem.erasures(user_id="alice")] == ["expiry"]
    mem.set_default_ttl(None, user_id="alice")
    assert mem.default_ttl(user_id="alice") is None


def test_a_memory_edited_away_from_the_words_is_found_by_its_history(
    open_memory: Callable[[], Memory],
) -> None:
    mem = open_memory()
    entries = seed(mem)
    tennis = next(e for e in entries if "tennis" in e.text)
    mem.update(tennis.id, "I play squash on Thursdays")
    mem.update(tennis.id, "I play a racket sport weekly")
    found = mem.forget("squash", user_id="alice", purge=True, dry_run=True)
    assert [e.id for e in found.memories] == [tennis.id]


def test_buffered_turns_forgotten_are_never_searched_nor_extracted(
    open_memory: Callable[[], Memory],
) -> None:
    """Turns still in the sensory/short-term buffer (no memory drawn yet) that the query
    names leave search and context at once, and no later flush extracts them."""
    mem = open_memory()
    mem.config.buffer.sensory_tokens = 10_000  # nothing is segmented on add
    mem.add([{"role": "user", "content": t} for t in TEXTS], user_id="alice")
    buffered = mem.turns(user_id="alice")
    assert {t.stage.value for t in buffered} == {"sensory"} and mem.get_all(user_id="alice") == []
    assert any("Zoraida" in h.text for h in mem.search("Zoraida", user_id="alice"))

    done = mem.forget("zoraida", user_id="alice")
    assert done.done and done.memories == [] and len(done.turns) == 2
    for query in ("Zoraida Lisbon", "Zoraida trip", "sister"):
        assert not any("Zoraida" in h.text for h in mem.search(query, user_id="alice"))
        assert "Zoraida" not in mem.context(query, user_id="alice").text
    forgotten = {t.id for t in mem.turns(user_id="alice", include_forgotten=True) if t.forgotten}
    assert forgotten == {t.id for t in done.turns}
    # the history an app shows leaves them out, as REST's /v1/turns does (it showed them)
    assert not any("Zoraida" in t.content for t in mem.turns(user_id="alice"))

    mem.flush(user_id="alice")  # segment and extract everything left
    texts = [e.text for e in mem.get_all(user_id="alice", include_deleted=True)]
    assert texts == [f"user: {TEXTS[1]}"]  # only the turn that was not forgotten
    assert not any("Zoraida" in h.text for h in mem.search("Zoraida", user_id="alice"))
    # reopened (another process): still forgotten, and a purge still finds them to erase
    mem.close()
    again = open_memory()
    kept = again.turns(user_id="alice", include_forgotten=True)
    assert {t.id for t in kept if t.forgotten} == forgotten
    purged = again.forget("zoraida", user_id="alice", purge=True)
    kept = again.turns(user_id="alice", include_forgotten=True)
    assert purged.erased_turns == 2 and all(not t.forgotten for t in kept)


def test_forgetting_a_batched_turn_takes_it_out_of_its_pending_batch(
    open_memory: Callable[[], Memory],
) -> None:
    mem = open_memory()
    mem.config.buffer.sensory_tokens = 10_000
    mem.add([{"role": "user", "content": t} for t in TEXTS], user_id="alice")
    owner = mem.turns(user_id="alice")[0].scope.owner
    mem.engine.sensory.process(owner, force=True)
    mem.engine.shortterm.plan(owner, force=True)  # batched, not yet extracted
    (batch,) = mem.store.list_batches(owner)
    assert len(batch.turn_ids) == 3
    mem.forget("zoraida", user_id="alice")
    (batch,) = mem.store.list_batches(owner)
    tennis = [t.id for t in mem.turns(user_id="alice") if "tennis" in t.content]
    assert batch.turn_ids == tennis
    mem.flush(user_id="alice")
    assert [e.text for e in mem.get_all(user_id="alice")] == [f"user: {TEXTS[1]}"]


def test_a_forgotten_turn_is_no_evidence_of_a_memory_that_still_cites_it(
    open_memory: Callable[[], Memory],
) -> None:
    """Forgetting memory A by id tombstones its source turn; memory B drawn from the same
    turn stays, but search and context no longer quote the turn as B's evidence."""
    mem = open_memory()
    mem.add(
        [{"role": "user", "content": "Zoraida lives in Lisbon and plays the oboe"}], user_id="alice"
    )
    (t,) = mem.turns(user_id="alice")
    a = Entry("a", t.scope.owner, "Zoraida lives in Lisbon", sources=[t.id], origin="manual")
    b = Entry("b", t.scope.owner, "someone plays the oboe", sources=[t.id], origin="manual")
    mem.store.add_entries([a, b], mem.embedder.embed([a.text, b.text]), actor="user")
    before = [h for h in mem.search("oboe", user_id="alice") if h.id == "b"]
    assert before and [s.id for s in before[0].sources] == [t.id]
    mem.forget(ids=["a"], user_id="alice")
    hits = mem.search("oboe", user_id="alice")
    (hit,) = [h for h in hits if h.id == "b"]
    assert hit.sources == [] and not any("Zoraida" in h.text for h in hits)
    assert "Zoraida" not in mem.context("oboe", user_id="alice").text


@pytest.mark.parametrize("ttl", [1e12, float("inf"), float("nan"), timedelta(days=365 * 101)])
def test_a_ttl_past_the_bound_is_refused_and_changes_nothing(
    open_memory: Callable[[], Memory], ttl: float | timedelta
) -> None:
    """TTLs are bounded (100 years, as over REST) and finite on every surface: a TTL that
    overflowed the dates it is added to used to make the whole scope unreadable."""
    mem = open_memory()
    entries = seed(mem)
    with pytest.raises(InputError, match="ttl"):
        mem.set_default_ttl(ttl, user_id="alice")
    with pytest.raises(InputError, match="ttl"):
        mem.set_ttl(entries[0].id, ttl, user_id="alice")
    assert mem.default_ttl(user_id="alice") is None
    assert [e.expires_at for e in mem.get_all(user_id="alice")] == [None] * len(entries)
    assert mem.search("Lisbon", user_id="alice")


def test_a_default_ttl_stored_past_the_bound_reads_as_never(
    open_memory: Callable[[], Memory],
) -> None:
    """A store written before the bound may hold a huge default TTL: its memories are
    listed, searched and consolidated as never expiring, not as an overflow."""
    from lightmem.longterm.forgetting import ttl_key
    from lightmem.types import Scope

    mem = open_memory()
    entries = seed(mem)
    mem.store.set_meta(ttl_key(Scope("alice")), repr(1e12))
    assert [e.id for e in mem.get_all(user_id="alice")] == [e.id for e in entries]
    assert mem.search("Lisbon", user_id="alice")
    assert mem.consolidate(user_id="alice").expired == 0


def test_concurrent_consolidations_of_one_owner_all_succeed(
    open_memory: Callable[[], Memory],
) -> None:
    """Three sleep-time runs of one owner at once (REST jobs, a worker): the expired
    memories are erased once, and no run fails on what another erased first."""
    import threading
    import time

    mem = open_memory()
    entries = seed(mem)
    mem.set_default_ttl(0.5, user_id="alice")
    time.sleep(0.7)
    barrier = threading.Barrier(3)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run() -> None:
        barrier.wait()
        try:
            results.append(mem.consolidate(user_id="alice"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sum(r.expired for r in results) == len(entries)
    assert mem.get_all(user_id="alice", include_deleted=True) == []


def test_wrong_argument_types_are_input_errors_and_change_nothing(
    open_memory: Callable[[], Memory],
) -> None:
    """The Python API takes flags as booleans (``purge="false"`` erased for good) and text
    arguments as strings (``author=b"bot"`` was stored and broke every later export)."""
    import json

    mem = open_memory()
    entries = seed(mem)
    eid = entries[0].id
    before = list(mem.export(user_id="alice"))
    calls: list[Callable[[], Any]] = [
        lambda: mem.forget("Zoraida", user_id="alice", purge="false"),  # type: ignore[arg-type]
        lambda: mem.forget("Zoraida", user_id="alice", dry_run="no"),  # type: ignore[arg-type]
        lambda: mem.forget("Zoraida", user_id="alice", reason=5),  # type: ignore[arg-type]
        lambda: mem.pin(eid, "no", user_id="alice"),  # type: ignore[arg-type]
        lambda: mem.update(eid, "x", reason=5, user_id="alice"),  # type: ignore[arg-type]
        lambda: mem.update(eid, "x", actor=None, user_id="alice"),  # type: ignore[arg-type]
        lambda: mem.delete(eid, reason={"a": 1}, user_id="alice"),  # type: ignore[arg-type]
        lambda: mem.get({"a": 1}),  # type: ignore[arg-type]
        lambda: mem.get_all(user_id="alice", limit="5"),  # type: ignore[arg-type]
        lambda: mem.get_all(user_id="alice", limit=-1),
        lambda: mem.search("Lisbon", user_id="alice", include_turns="no"),  # type: ignore[arg-type]
        lambda: mem.context("Lisbon", user_id="alice", hierarchical=5),  # type: ignore[arg-type]
        lambda: mem.import_records(None),  # type: ignore[arg-type]
        lambda: mem.add("hi", user_id="alice", author=b"bot"),  # type: ignore[arg-type]
        lambda: mem.add("hi", user_id="alice", session_id=5),  # type: ignore[arg-type]
    ]
    for call in calls:
        with pytest.raises(InputError):
            call()
    assert list(mem.export(user_id="alice")) == before
    json.dumps(before)  # the export stays serialisable
    with pytest.raises(InputError, match="session_id"):
        mem.add("hi", user_id="alice", session_id=5)  # type: ignore[arg-type]
