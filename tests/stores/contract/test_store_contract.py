"""The store contract (``lightmem.stores.base``), run against every backend in ``BACKENDS``."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lightmem.errors import InputError, NotFoundError, StorageError
from lightmem.stores.base import Store
from lightmem.types import (
    Batch,
    Entry,
    EntryStatus,
    HistoryEvent,
    ImageRef,
    LLMCall,
    Scope,
    Turn,
    TurnStage,
)
from tests.stores.contract.conftest import DIM, StoreFactory

ALICE = Scope(user_id="alice")
BOB = Scope(user_id="bob")
DAY = datetime(2024, 5, 1, 9, 30)
KITE = ImageRef("https://example.com/kite.jpg", "a red kite over the dunes")


def vec(*weights: float) -> np.ndarray:
    """A unit vector from the first few coordinates (the rest zero)."""
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(weights)] = weights
    return (v / np.linalg.norm(v)).astype(np.float32)


def mat(*vectors: np.ndarray) -> np.ndarray:
    return np.stack(vectors).astype(np.float32)


def turn(tid: str, scope: Scope = ALICE, content: str | None = None, **kw: Any) -> Turn:
    return Turn(id=tid, scope=scope, seq=0, role="user", content=content or f"turn {tid}", **kw)


def entry(eid: str, text: str, scope: Scope = ALICE, **kw: Any) -> Entry:
    return Entry(id=eid, scope=scope, text=text, **kw)


def add(store: Store, *items: tuple[Entry, np.ndarray], actor: str = "user") -> None:
    store.add_entries([e for e, _ in items], mat(*(v for _, v in items)), actor=actor)


def ids(hits: list[tuple[str, float]]) -> list[str]:
    return [i for i, _ in hits]


def segment_and_batch(
    store: Store, batch_id: str, turn_ids: list[str], scope: Scope = ALICE
) -> None:
    store.assign_segments([(f"seg-{batch_id}", turn_ids)])
    store.create_batch(Batch(id=batch_id, scope=scope, turn_ids=turn_ids))


# -- lifecycle and metadata ------------------------------------------------------------------


def test_meta_round_trip_and_survives_reopen(make_store: Callable[..., Store]) -> None:
    store = make_store()
    assert store.get_meta("embedder") is None
    store.set_meta("embedder", "hash-64")
    store.set_meta("embedder", "minilm")
    assert store.get_meta("embedder") == "minilm"
    store.close()
    assert make_store().get_meta("embedder") == "minilm"


def test_reopen_with_another_dimension_raises_naming_both(
    backend: StoreFactory, tmp_path: Path
) -> None:
    first = backend(tmp_path, "main")
    first.open(DIM)
    first.close()
    other = backend(tmp_path, "main")
    with pytest.raises(StorageError) as err:
        other.open(DIM * 2)
    assert str(DIM) in str(err.value) and str(DIM * 2) in str(err.value)
    again = backend(tmp_path, "main")
    again.open(DIM)  # the right dimension still opens
    again.close()


# -- turns ----------------------------------------------------------------------------------


def test_add_turns_sets_seq_created_at_and_stage(store: Store) -> None:
    saved = store.add_turns([turn("t1"), turn("t2")])
    assert [t.id for t in saved] == ["t1", "t2"]
    assert saved[0].seq < saved[1].seq
    assert all(t.stage == TurnStage.SENSORY and t.created_at is not None for t in saved)
    later = store.add_turns([turn("t3", BOB)])
    assert later[0].seq > saved[1].seq  # increasing across the whole store


def test_turn_fields_round_trip(store: Store) -> None:
    original = turn(
        "t1",
        Scope("alice", "helper", "run-1"),
        "I moved to Lisbon",
        speaker="Alice",
        session_id="s1",
        timestamp=DAY,
        ref="D1:3",
    )
    store.add_turns([original])
    (got,) = store.get_turns(["t1"])
    assert got.scope == Scope("alice", "helper", "run-1")
    assert (got.content, got.speaker, got.session_id, got.ref) == (
        "I moved to Lisbon",
        "Alice",
        "s1",
        "D1:3",
    )
    assert got.timestamp == DAY and got.role == "user"


def test_turns_are_durable_across_close_and_reopen(make_store: Callable[..., Store]) -> None:
    store = make_store()
    saved = store.add_turns([turn(f"t{i}") for i in range(5)])
    store.close()
    reopened = make_store()
    assert reopened.list_turns(ALICE) == saved


def test_get_turns_keeps_given_order_and_skips_unknown(store: Store) -> None:
    store.add_turns([turn("a"), turn("b"), turn("c")])
    assert [t.id for t in store.get_turns(["c", "nope", "a"])] == ["c", "a"]
    assert store.get_turns([]) == []


def test_list_turns_orders_by_seq_and_filters(store: Store) -> None:
    store.add_turns([turn("a", session_id="s1"), turn("b", session_id="s2")])
    store.add_turns([turn("c", session_id="s1"), turn("x", BOB, session_id="s1")])
    assert [t.id for t in store.list_turns(ALICE)] == ["a", "b", "c"]
    assert [t.id for t in store.list_turns(ALICE, session_id="s1")] == ["a", "c"]
    assert [t.id for t in store.list_turns(ALICE, limit=2)] == ["a", "b"]
    store.assign_segments([("seg", ["a"])])
    assert [t.id for t in store.list_turns(ALICE, stage=TurnStage.SENSORY)] == ["b", "c"]
    assert [t.id for t in store.list_turns(ALICE, stage=TurnStage.SHORT_TERM)] == ["a"]


def test_add_turns_with_an_existing_id_changes_nothing(store: Store) -> None:
    store.add_turns([turn("a")])
    with pytest.raises(StorageError):
        store.add_turns([turn("b"), turn("a")])
    assert [t.id for t in store.list_turns(ALICE)] == ["a"]


def test_turn_views_and_vectors(store: Store) -> None:
    store.add_turns([turn("a"), turn("b"), turn("c")])
    store.set_turn_views([("a", "short a", 2), ("b", "short b", 3)], mat(vec(1), vec(0, 1)))
    a, b, c = store.get_turns(["a", "b", "c"])
    assert (a.compressed, a.tokens, b.compressed, b.tokens) == ("short a", 2, "short b", 3)
    assert c.compressed is None and c.view == "turn c"
    vectors = store.turn_vectors(["a", "b", "c"])
    assert set(vectors) == {"a", "b"}
    assert vectors["a"].dtype == np.float32
    np.testing.assert_allclose(vectors["b"], vec(0, 1))
    store.set_turn_views([("a", "shorter", 1)], None)  # no vectors: the stored one stays
    assert store.get_turns(["a"])[0].compressed == "shorter"
    np.testing.assert_allclose(store.turn_vectors(["a"])["a"], vec(1))


# -- stage transitions ------------------------------------------------------------------------


def test_assign_segments_moves_sensory_to_short_term(store: Store) -> None:
    store.add_turns([turn("a"), turn("b"), turn("c")])
    store.assign_segments([("s1", ["a", "b"]), ("s2", ["c"])])
    got = {t.id: t for t in store.list_turns(ALICE)}
    assert {t.stage for t in got.values()} == {TurnStage.SHORT_TERM}
    assert (got["a"].segment_id, got["b"].segment_id, got["c"].segment_id) == ("s1", "s1", "s2")


def test_assign_segments_refuses_turns_not_in_sensory_and_is_atomic(store: Store) -> None:
    store.add_turns([turn("a"), turn("b")])
    store.assign_segments([("s1", ["a"])])
    with pytest.raises(StorageError):
        store.assign_segments([("s2", ["b"]), ("s3", ["a"])])
    b = store.get_turns(["b"])[0]
    assert b.stage == TurnStage.SENSORY and b.segment_id is None
    with pytest.raises(NotFoundError):
        store.assign_segments([("s4", ["b", "ghost"])])
    assert store.get_turns(["b"])[0].stage == TurnStage.SENSORY


def test_create_batch_moves_turns_to_batched(store: Store) -> None:
    store.add_turns([turn("a"), turn("b"), turn("c")])
    segment_and_batch(store, "b1", ["a", "b"])
    (batch,) = store.list_batches(ALICE)
    assert (batch.id, batch.turn_ids, batch.status, batch.attempts) == (
        "b1",
        ["a", "b"],
        "pending",
        0,
    )
    assert batch.scope == ALICE and batch.created_at is not None
    a, b, c = store.get_turns(["a", "b", "c"])
    assert (a.stage, a.batch_id, b.stage, b.batch_id) == (
        TurnStage.BATCHED,
        "b1",
        TurnStage.BATCHED,
        "b1",
    )
    assert c.stage == TurnStage.SENSORY
    with pytest.raises(StorageError):  # a turn is never in two batches
        store.create_batch(Batch(id="b2", scope=ALICE, turn_ids=["b", "c"]))
    assert store.get_turns(["c"])[0].stage == TurnStage.SENSORY
    assert [x.id for x in store.list_batches(ALICE)] == ["b1"]


def test_list_batches_in_creation_order_by_scope_and_status(store: Store) -> None:
    store.add_turns([turn("a"), turn("b"), turn("c"), turn("x", BOB)])
    for bid, tids, scope in (("b1", ["a"], ALICE), ("b2", ["x"], BOB), ("b3", ["b"], ALICE)):
        segment_and_batch(store, bid, tids, scope)
    store.fail_batch("b3", "bad json", "{oops")
    assert [b.id for b in store.list_batches()] == ["b1", "b2", "b3"]
    assert [b.id for b in store.list_batches(ALICE)] == ["b1", "b3"]
    assert [b.id for b in store.list_batches(ALICE, statuses=("failed",))] == ["b3"]
    assert [b.id for b in store.list_batches(statuses=("pending",))] == ["b1", "b2"]


def test_fail_batch_keeps_error_and_raw_reply_and_counts_attempts(store: Store) -> None:
    store.add_turns([turn("a")])
    segment_and_batch(store, "b1", ["a"])
    store.fail_batch("b1", "invalid JSON", "Sure! {not json")
    store.fail_batch("b1", "still invalid", "{still not")
    (batch,) = store.list_batches(ALICE, statuses=("failed",))
    assert (batch.attempts, batch.last_error, batch.raw_reply) == (2, "still invalid", "{still not")
    assert store.get_turns(["a"])[0].stage == TurnStage.BATCHED  # nothing dropped
    with pytest.raises(NotFoundError):
        store.fail_batch("ghost", "x", None)


def test_complete_batch_stores_entries_and_marks_turns_extracted(store: Store) -> None:
    store.add_turns([turn("a"), turn("b")])
    segment_and_batch(store, "b1", ["a", "b"])
    store.fail_batch("b1", "timeout", None)  # a failed batch can still complete later
    e1 = entry("e1", "Alice moved to Lisbon", sources=["a"], keywords=["move"])
    e2 = entry("e2", "Alice likes coffee", sources=["b"])
    store.complete_batch("b1", [e1, e2], mat(vec(1), vec(0, 1)))
    assert {t.stage for t in store.get_turns(["a", "b"])} == {TurnStage.EXTRACTED}
    assert store.list_batches(ALICE) == []
    (done,) = store.list_batches(ALICE, statuses=("done",))
    assert done.id == "b1"
    assert [e.id for e in store.list_entries(ALICE)] == ["e1", "e2"]
    (record,) = store.history("e1")
    assert (record.event, record.actor, record.new_text) == (
        HistoryEvent.ADD,
        "extraction",
        "Alice moved to Lisbon",
    )
    assert store.consolidation_queue(ALICE) == ["e1", "e2"]


def test_complete_batch_twice_is_refused_and_changes_nothing(store: Store) -> None:
    store.add_turns([turn("a")])
    segment_and_batch(store, "b1", ["a"])
    store.complete_batch("b1", [entry("e1", "first")], mat(vec(1)))
    with pytest.raises(StorageError):
        store.complete_batch("b1", [entry("e2", "second")], mat(vec(0, 1)))
    assert [e.id for e in store.list_entries(ALICE)] == ["e1"]
    assert store.get_entries(["e2"]) == []
    with pytest.raises(NotFoundError):
        store.complete_batch("ghost", [], np.zeros((0, DIM), dtype=np.float32))


def test_complete_batch_refuses_entries_of_another_scope(store: Store) -> None:
    store.add_turns([turn("a")])
    segment_and_batch(store, "b1", ["a"])
    with pytest.raises(StorageError):
        store.complete_batch("b1", [entry("e1", "x", BOB)], mat(vec(1)))
    assert store.count_entries(None) == 0
    assert [b.id for b in store.list_batches(ALICE)] == ["b1"]


# -- entries ---------------------------------------------------------------------------------


def test_entry_fields_round_trip(store: Store) -> None:
    original = entry(
        "e1",
        "Alice adopted a cat named Miso",
        Scope("alice", "helper", "run-7"),
        sources=["t1", "t2"],
        timestamp=DAY,
        speakers=["Alice"],
        topic_id="pets",
        keywords=["cat", "Miso"],
        origin="manual",
    )
    add(store, (original, vec(1, 1)))
    got = store.get_entry("e1")
    assert got.scope == Scope("alice", "helper", "run-7")
    assert (got.text, got.sources, got.timestamp, got.speakers) == (
        original.text,
        ["t1", "t2"],
        DAY,
        ["Alice"],
    )
    assert (got.topic_id, got.keywords, got.origin) == ("pets", ["cat", "Miso"], "manual")
    assert (got.status, got.version) == (EntryStatus.ACTIVE, 1)
    assert got.created_at is not None and got.updated_at is not None
    np.testing.assert_allclose(store.entry_vectors(["e1"])["e1"], vec(1, 1), rtol=1e-6)
    assert store.get_entries(["ghost", "e1"]) == [got]


def test_add_entries_is_atomic(store: Store) -> None:
    add(store, (entry("e1", "one"), vec(1)))
    with pytest.raises(StorageError):  # e1 exists
        add(store, (entry("e2", "two"), vec(0, 1)), (entry("e1", "again"), vec(1)))
    with pytest.raises(StorageError):  # two entries, one vector
        store.add_entries([entry("e3", "x"), entry("e4", "y")], mat(vec(1)), actor="user")
    with pytest.raises(StorageError):  # wrong dimension
        store.add_entries([entry("e5", "z")], np.ones((1, DIM + 1), np.float32), actor="user")
    assert [e.id for e in store.list_entries(ALICE)] == ["e1"]


def test_update_entry_bumps_version_and_writes_history(store: Store) -> None:
    add(store, (entry("e1", "Alice lives in Porto", sources=["t1"]), vec(1)))
    updated = store.update_entry(
        "e1", "Alice lives in Lisbon", vec(0, 1), reason="she moved", actor="user", sources=["t9"]
    )
    assert (updated.text, updated.version, updated.sources) == ("Alice lives in Lisbon", 2, ["t9"])
    assert store.get_entry("e1") == updated
    np.testing.assert_allclose(store.entry_vectors(["e1"])["e1"], vec(0, 1))
    store.update_entry("e1", "Alice lives in Lisbon, Portugal", vec(0, 1), reason=None, actor="x")
    assert store.get_entry("e1").sources == ["t9"]  # kept when not given
    events = [(h.event, h.old_text, h.new_text, h.reason, h.actor) for h in store.history("e1")]
    assert events == [
        (HistoryEvent.ADD, None, "Alice lives in Porto", None, "user"),
        (HistoryEvent.UPDATE, "Alice lives in Porto", "Alice lives in Lisbon", "she moved", "user"),
        (
            HistoryEvent.UPDATE,
            "Alice lives in Lisbon",
            "Alice lives in Lisbon, Portugal",
            None,
            "x",
        ),
    ]
    with pytest.raises(NotFoundError):
        store.update_entry("ghost", "x", vec(1), reason=None, actor="user")


def test_soft_delete_hides_from_search_and_list_but_keeps_tombstone(store: Store) -> None:
    add(
        store,
        (entry("e1", "Alice likes coffee"), vec(1)),
        (entry("e2", "Alice likes tea"), vec(0, 1)),
    )
    store.delete_entry("e1", reason="wrong", actor="user")
    tomb = store.get_entry("e1")
    assert tomb.status == EntryStatus.DELETED and tomb.text == "Alice likes coffee"
    assert [e.id for e in store.list_entries(ALICE)] == ["e2"]
    assert [e.id for e in store.list_entries(ALICE, include_deleted=True)] == ["e1", "e2"]
    assert store.count_entries(ALICE) == 1
    assert store.count_entries(ALICE, include_deleted=True) == 2
    assert "e1" not in ids(store.search_dense(ALICE, vec(1), 5))
    assert store.search_bm25(ALICE, "coffee", 5) == []
    assert [h.event for h in store.history("e1")] == [HistoryEvent.ADD, HistoryEvent.DELETE]
    assert store.history("e1")[-1].reason == "wrong"
    with pytest.raises(NotFoundError):
        store.update_entry("e1", "x", vec(1), reason=None, actor="user")
    with pytest.raises(NotFoundError):
        store.delete_entry("ghost", reason=None, actor="user")


def test_list_entries_creation_order_limit_offset(store: Store) -> None:
    for i in range(5):
        add(store, (entry(f"e{i}", f"fact {i}"), vec(1, i)))
    assert [e.id for e in store.list_entries(ALICE)] == [f"e{i}" for i in range(5)]
    assert [e.id for e in store.list_entries(ALICE, limit=2, offset=1)] == ["e1", "e2"]
    assert [e.id for e in store.list_entries(ALICE, offset=4)] == ["e4"]


def test_history_timestamps_are_ordered(store: Store) -> None:
    add(store, (entry("e1", "v1"), vec(1)))
    store.update_entry("e1", "v2", vec(1), reason=None, actor="user")
    records = store.history("e1")
    assert records[0].id < records[1].id
    assert records[0].created_at <= records[1].created_at
    assert store.history("ghost") == []


# -- scopes -----------------------------------------------------------------------------------


def test_two_users_with_the_same_text_never_cross(store: Store) -> None:
    add(store, (entry("a1", "I love hiking in the Alps"), vec(1)))
    add(store, (entry("b1", "I love hiking in the Alps", BOB), vec(1)))
    assert ids(store.search_dense(ALICE, vec(1), 10)) == ["a1"]
    assert ids(store.search_dense(BOB, vec(1), 10)) == ["b1"]
    assert ids(store.search_bm25(ALICE, "hiking Alps", 10)) == ["a1"]
    assert ids(store.search_bm25(BOB, "hiking Alps", 10)) == ["b1"]
    assert store.get_entry("a1", ALICE).id == "a1"
    with pytest.raises(NotFoundError):
        store.get_entry("a1", BOB)
    assert [e.id for e in store.list_entries(BOB)] == ["b1"]
    assert store.count_entries(ALICE) == 1 and store.count_entries(None) == 2


def test_user_id_and_agent_id_partition(store: Store) -> None:
    by_user, by_agent, both = Scope(user_id="x"), Scope(agent_id="x"), Scope("x", "x")
    add(store, (entry("u", "same fact", by_user), vec(1)))
    add(store, (entry("a", "same fact", by_agent), vec(1)))
    add(store, (entry("ua", "same fact", both), vec(1)))
    for scope, expected in ((by_user, "u"), (by_agent, "a"), (both, "ua")):
        assert ids(store.search_dense(scope, vec(1), 10)) == [expected]
        assert ids(store.search_bm25(scope, "fact", 10)) == [expected]
        assert [e.id for e in store.list_entries(scope)] == [expected]
    with pytest.raises(NotFoundError):
        store.get_entry("ua", by_user)
    assert set(store.scopes()) == {by_user, by_agent, both}


def test_run_id_filters_only_when_given(store: Store) -> None:
    r1, r2 = Scope("alice", run_id="r1"), Scope("alice", run_id="r2")
    add(store, (entry("e1", "coffee in run one", r1), vec(1)))
    add(store, (entry("e2", "coffee in run two", r2), vec(1, 0.1)))
    add(store, (entry("e0", "coffee with no run"), vec(1, 0.2)))
    assert ids(store.search_dense(r1, vec(1), 10)) == ["e1"]
    assert ids(store.search_bm25(r2, "coffee", 10)) == ["e2"]
    assert set(ids(store.search_dense(ALICE, vec(1), 10))) == {"e0", "e1", "e2"}
    assert [e.id for e in store.list_entries(r1)] == ["e1"]
    assert store.get_entry("e1", r1).id == "e1"
    with pytest.raises(NotFoundError):
        store.get_entry("e1", r2)
    store.add_turns([turn("t1", r1), turn("t2", r2)])
    assert [t.id for t in store.list_turns(r2)] == ["t2"]
    assert [t.id for t in store.list_turns(ALICE)] == ["t1", "t2"]
    assert store.scopes() == [ALICE]


# -- search -----------------------------------------------------------------------------------


def test_dense_search_ranks_by_cosine(store: Store) -> None:
    add(
        store,
        (entry("far", "far"), vec(0, 0, 1)),
        (entry("near", "near"), vec(1, 0.1)),
        (entry("mid", "mid"), vec(1, 1)),
        (entry("exact", "exact"), vec(1)),
    )
    hits = store.search_dense(ALICE, vec(1), 10)
    assert ids(hits) == ["exact", "near", "mid", "far"]
    scores = [s for _, s in hits]
    assert scores == sorted(scores, reverse=True)
    assert scores[0] == pytest.approx(1.0, abs=1e-5)
    assert scores[2] == pytest.approx(float(vec(1) @ vec(1, 1)), abs=1e-5)
    assert scores[3] == pytest.approx(0.0, abs=1e-5)
    assert ids(store.search_dense(ALICE, vec(1), 2)) == ["exact", "near"]
    assert store.search_dense(ALICE, vec(1), 0) == []
    assert store.search_dense(BOB, vec(1), 3) == []


def test_dense_search_sees_writes_at_once(store: Store) -> None:
    add(store, (entry("e1", "one"), vec(1)))
    assert ids(store.search_dense(ALICE, vec(0, 1), 5)) == ["e1"]
    add(store, (entry("e2", "two"), vec(0, 1)))
    assert ids(store.search_dense(ALICE, vec(0, 1), 5)) == ["e2", "e1"]
    store.update_entry("e1", "one, changed", vec(0, 1, 0.01), reason=None, actor="user")
    assert ids(store.search_dense(ALICE, vec(0, 1, 0.01), 1)) == ["e1"]
    store.delete_entry("e2", reason=None, actor="user")
    assert ids(store.search_dense(ALICE, vec(0, 1), 5)) == ["e1"]


@pytest.fixture
def drinks(store: Store) -> Store:
    texts = {
        "espresso": "Alice drinks espresso, espresso every morning",
        "coffee": "Alice drinks coffee with oat milk",
        "tea": "Bob prefers green tea in the afternoon",
        "dog": "Alice walks her dog Rex at noon",
        "cat": "The cat Miso sleeps all day",
        "hike": "Alice went to the mountains last summer",
    }
    for i, (eid, text) in enumerate(texts.items()):
        kw = ["hiking", "outdoors"] if eid == "hike" else []
        add(store, (entry(eid, text, keywords=kw), vec(1, i)))
    return store


def test_bm25_ranks_by_term_relevance(drinks: Store) -> None:
    hits = drinks.search_bm25(ALICE, "espresso coffee", 10)
    assert ids(hits) == ["espresso", "coffee"]
    assert hits[0][1] > hits[1][1] > 0
    assert ids(drinks.search_bm25(ALICE, "ESPRESSO", 10)) == ["espresso"]  # case-insensitive
    assert ids(drinks.search_bm25(ALICE, "hiking", 10)) == ["hike"]  # keywords are searched
    assert len(drinks.search_bm25(ALICE, "Alice", 2)) == 2


@pytest.mark.parametrize(
    "query",
    [
        '"foo OR" AND *',
        "NEAR(",
        'espresso" OR "',
        "'espresso'",
        "espresso*",
        "text:espresso",
        "-espresso",
        "(espresso) AND NOT",
        "espresso^ {col}",
    ],
)
def test_bm25_query_syntax_is_never_interpreted(drinks: Store, query: str) -> None:
    hits = drinks.search_bm25(ALICE, query, 10)
    assert all(isinstance(i, str) and isinstance(s, float) for i, s in hits)
    if "espresso" in query:
        assert ids(hits)[:1] == ["espresso"]


@pytest.mark.parametrize("query", ["", "   ", '"', "*", "()", '"" OR ""', "?!.,;-_"])
def test_bm25_empty_or_punctuation_query_returns_nothing(drinks: Store, query: str) -> None:
    assert drinks.search_bm25(ALICE, query, 10) == []


def test_time_range_filters_both_searches_inclusively(store: Store) -> None:
    for i in range(3):
        add(
            store,
            (
                entry(f"d{i}", f"note about travel day {i}", timestamp=DAY + timedelta(days=i)),
                vec(1, i),
            ),
        )
    add(store, (entry("undated", "note about travel someday"), vec(1, 5)))
    day1 = DAY + timedelta(days=1)
    cases = [
        (None, {"d0", "d1", "d2", "undated"}),
        ((day1, None), {"d1", "d2"}),
        ((None, day1), {"d0", "d1"}),
        ((day1, day1), {"d1"}),
        ((None, None), {"d0", "d1", "d2", "undated"}),
        ((DAY + timedelta(days=5), None), set()),
    ]
    for time_range, expected in cases:
        assert set(ids(store.search_dense(ALICE, vec(1), 10, time_range))) == expected, time_range
        assert set(ids(store.search_bm25(ALICE, "travel", 10, time_range))) == expected, time_range


# -- consolidation ------------------------------------------------------------------------------


def test_consolidation_queue_and_mark_consolidated(store: Store) -> None:
    add(store, (entry("e1", "one"), vec(1)), (entry("e2", "two"), vec(0, 1)))
    add(store, (entry("e3", "three", BOB), vec(1)))
    assert store.consolidation_queue() == ["e1", "e2", "e3"]
    assert store.consolidation_queue(ALICE) == ["e1", "e2"]
    assert store.consolidation_queue(limit=1) == ["e1"]
    store.mark_consolidated(["e1"])
    store.delete_entry("e2", reason=None, actor="user")
    assert store.consolidation_queue(ALICE) == []
    assert store.consolidation_queue() == ["e3"]


def test_apply_decision_update_is_applied_once(store: Store) -> None:
    add(
        store,
        (entry("old", "Alice lives in Porto"), vec(1)),
        (entry("new", "Alice moved to Lisbon"), vec(1, 0.2)),
    )
    args: dict[str, Any] = {
        "new_text": "Alice lives in Lisbon",
        "vector": vec(0, 1),
        "reason": "moved",
    }
    assert store.apply_decision("old", ["new"], "update", **args) is True
    assert store.apply_decision("old", ["new"], "update", **args) is False
    got = store.get_entry("old")
    assert (got.text, got.version) == ("Alice lives in Lisbon", 2)
    np.testing.assert_allclose(store.entry_vectors(["old"])["old"], vec(0, 1))
    updates = [h for h in store.history("old") if h.event == HistoryEvent.UPDATE]
    assert len(updates) == 1
    assert (updates[0].old_text, updates[0].new_text, updates[0].reason) == (
        "Alice lives in Porto",
        "Alice lives in Lisbon",
        "moved",
    )
    assert store.pairs_done("old", ["new", "other"]) == {"new"}
    assert store.get_entry("new").text == "Alice moved to Lisbon"


def test_apply_decision_refuses_when_any_pair_is_decided(store: Store) -> None:
    add(
        store,
        (entry("t", "target"), vec(1)),
        (entry("s1", "a"), vec(1)),
        (entry("s2", "b"), vec(1)),
    )
    assert store.apply_decision("t", ["s1"], "ignore") is True
    assert store.apply_decision("t", ["s1", "s2"], "delete") is False
    assert store.get_entry("t").status == EntryStatus.ACTIVE
    assert store.pairs_done("t", ["s1", "s2"]) == {"s1"}


def test_apply_decision_delete_and_ignore(store: Store) -> None:
    add(store, (entry("a", "a"), vec(1)), (entry("b", "b"), vec(1)), (entry("n", "n"), vec(1)))
    assert store.apply_decision("a", ["n"], "ignore", reason="unrelated")
    assert store.get_entry("a").status == EntryStatus.ACTIVE
    assert [h.event for h in store.history("a")] == [HistoryEvent.ADD]
    assert store.apply_decision("b", ["n"], "delete", reason="contradicted")
    assert store.get_entry("b").status == EntryStatus.DELETED
    last = store.history("b")[-1]
    assert (last.event, last.reason) == (HistoryEvent.DELETE, "contradicted")
    assert set(ids(store.search_dense(ALICE, vec(1), 10))) == {"a", "n"}


def test_apply_decision_merge_moves_sources_to_first_source(store: Store) -> None:
    add(
        store,
        (entry("old", "Alice likes tea", sources=["t1", "t2"]), vec(1)),
        (entry("new", "Alice likes tea", sources=["t2", "t5"]), vec(1)),
        (entry("other", "Alice likes green tea", sources=["t7"]), vec(1)),
    )
    assert store.apply_decision("old", ["new", "other"], "merge", reason="duplicate")
    assert store.get_entry("old").status == EntryStatus.DELETED
    assert store.get_entry("new").sources == ["t2", "t5", "t1"]
    assert store.get_entry("other").sources == ["t7"]
    last = store.history("old")[-1]
    assert (last.event, last.old_text, last.reason) == (
        HistoryEvent.MERGE,
        "Alice likes tea",
        "duplicate",
    )
    assert set(ids(store.search_dense(ALICE, vec(1), 10))) == {"new", "other"}
    assert store.apply_decision("old", ["new", "other"], "merge") is False


def test_a_merge_repoints_the_events_that_bind_the_merged_entry(store: Store) -> None:
    """An event keeps its facts through a merge: the merged entry's id is replaced by its
    receiver's in every event of the owner binding it (once, in order); other owners'
    events and events not binding it are untouched."""
    BOB = Scope("bob")
    add(
        store,
        (entry("f_1", "Alice likes tea", sources=["t1"]), vec(1)),
        (entry("f_2", "Alice likes tea a lot", sources=["t2"]), vec(1)),
        (entry("f%3", "Alice hikes", sources=["t3"]), vec(0, 1)),
        (
            entry(
                "ev",
                "Alice's tea morning",
                kind="event",
                meta={"facts": ["f_1", "f%3", "f_2"], "links": [], "what": "tea"},
            ),
            vec(1),
        ),
        (
            entry("ev2", "Alice's hike", kind="event", meta={"facts": ["f%3"], "links": []}),
            vec(0, 1),
        ),
        (entry("fx1", "x", kind="event", meta={"facts": ["fX1"], "links": []}), vec(0, 1)),
    )
    add(store, (entry("evb", "Bob", scope=BOB, kind="event", meta={"facts": ["f_1"]}), vec(1)))
    assert store.apply_decision("f_1", ["f_2"], "merge", reason="duplicate")
    assert store.get_entry("ev").meta == {"facts": ["f_2", "f%3"], "links": [], "what": "tea"}
    assert store.get_entry("ev2").meta["facts"] == ["f%3"]
    assert store.get_entry("fx1").meta["facts"] == ["fX1"]  # LIKE's "_" is not a wildcard
    assert store.get_entry("evb").meta["facts"] == ["f_1"]  # another owner's: untouched


def test_apply_decision_on_a_deleted_target_only_records_pairs(store: Store) -> None:
    add(store, (entry("t", "target"), vec(1)), (entry("s", "source"), vec(1)))
    store.delete_entry("t", reason=None, actor="user")
    before = store.history("t")
    assert store.apply_decision("t", ["s"], "update", new_text="x", vector=vec(1)) is True
    assert store.history("t") == before
    assert store.get_entry("t").text == "target"
    assert store.pairs_done("t", ["s"]) == {"s"}


# -- usage, scopes ------------------------------------------------------------------------------


def test_usage_counts_calls_batches_and_buffer(store: Store) -> None:
    store.record_llm_call(LLMCall("extraction", 100, 20, 1.5, True))
    store.record_llm_call(LLMCall("extraction", 50, 0, 0.5, False))
    store.record_llm_call(LLMCall("consolidation", 10, 5, 0.25, True))
    store.add_turns([turn("a"), turn("b"), turn("c"), turn("d"), turn("e")])
    store.assign_segments([("s", ["a", "b", "c"])])
    segment_and_batch(store, "b1", ["d"])
    store.create_batch(Batch(id="b2", scope=ALICE, turn_ids=["c"]))
    store.fail_batch("b2", "boom", None)
    usage = store.usage()
    ext = usage.stages["extraction"]
    assert (ext.calls, ext.failed_calls, ext.tokens_in, ext.tokens_out) == (2, 1, 150, 20)
    assert ext.seconds == pytest.approx(2.0)
    assert usage.stages["consolidation"].calls == 1
    assert usage.total.tokens_in == 160
    assert (usage.pending_batches, usage.failed_batches, usage.buffered_turns) == (1, 1, 3)


def test_scopes_lists_owners_with_turns_or_entries(store: Store) -> None:
    assert store.scopes() == []
    store.add_turns([turn("a", Scope("u1", run_id="r"))])
    add(store, (entry("e", "x", Scope(agent_id="bot")), vec(1)))
    assert set(store.scopes()) == {Scope("u1"), Scope(agent_id="bot")}


def test_concurrent_calls_from_threads(store: Store) -> None:
    def work(i: int) -> int:
        store.add_turns([turn(f"t{i}")])
        add(store, (entry(f"e{i}", f"fact number {i}"), vec(1, i)))
        store.search_dense(ALICE, vec(1), 5)
        store.search_bm25(ALICE, "fact", 5)
        return len(store.get_turns([f"t{i}"]))

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(work, range(40))) == 40
    seqs = [t.seq for t in store.list_turns(ALICE)]
    assert len(set(seqs)) == 40 and seqs == sorted(seqs)
    assert store.count_entries(ALICE) == 40


# -- export / import ------------------------------------------------------------------------------


def populate(store: Store) -> None:
    """A store with something of every kind: turns in every stage, batches in every status,
    entries updated, deleted and merged, pairs, LLM calls, two owners."""
    run = Scope("alice", run_id="r1")
    store.add_turns([turn(f"t{i}", run, timestamp=DAY, session_id="s1") for i in range(6)])
    store.add_turns([turn("bt", BOB)])
    store.set_turn_views([("t0", "t0 short", 3)], mat(vec(1)))
    store.assign_segments([("s1", ["t0", "t1"]), ("s2", ["t2", "t3"])])
    store.create_batch(Batch(id="b1", scope=ALICE, turn_ids=["t0", "t1"]))
    store.create_batch(Batch(id="b2", scope=ALICE, turn_ids=["t2"]))
    store.create_batch(Batch(id="b3", scope=ALICE, turn_ids=["t3"]))
    store.fail_batch("b2", "bad", "raw text")
    e = [
        entry(
            "e1", "Alice drinks espresso", run, sources=["t0"], timestamp=DAY, keywords=["coffee"]
        ),
        entry("e2", "Alice has a dog named Rex", run, sources=["t1"], speakers=["Alice"]),
    ]
    store.complete_batch("b1", e, mat(vec(1), vec(0, 1)))
    add(store, (entry("e3", "Alice drinks espresso daily", run, sources=["t4"]), vec(1, 0.1)))
    add(store, (entry("e4", "Alice likes hiking", topic_id="t"), vec(0, 0, 1)))
    add(store, (entry("b1e", "Bob likes hiking", BOB), vec(0, 0, 1)))
    store.apply_decision("e1", ["e3"], "merge", reason="duplicate")
    store.update_entry("e2", "Alice has two dogs", vec(0, 1, 0.1), reason="news", actor="user")
    store.delete_entry("e4", reason="asked", actor="user")
    store.mark_consolidated(["e2"])
    # structure: an event binding a fact, and a session summary rebuilt once (version 2)
    event = entry(
        "ev1",
        "Alice adopted Rex",
        run,
        sources=["t1"],
        kind="event",
        meta={"when": "2024-05-01", "who": ["Alice"], "facts": ["e2"], "links": []},
    )
    summary = entry(
        "sum1",
        "Alice talked about coffee",
        run,
        sources=["t0", "t1"],
        kind="summary",
        meta={"session_id": "s1", "turns": 2, "entries": ["e1"]},
    )
    add(store, (event, vec(0, 1, 0.2)), (summary, vec(1, 1)))
    store.update_entry(
        "sum1",
        "Alice talked about coffee and Rex",
        vec(1, 1, 0.1),
        reason="the session grew",
        actor="summary",
        sources=["t0", "t1", "t2"],
        meta={"session_id": "s1", "turns": 3, "entries": ["e1", "e2"]},
    )
    store.record_llm_call(LLMCall("extraction", 10, 2, 0.5, True))
    store.record_llm_call(LLMCall("extraction", 10, 0, 0.5, False))
    # schema 6: images on a turn and an entry, image vectors, a forgotten turn, a decision
    store.add_turns([turn("ti", ALICE, "see this", images=[KITE, ImageRef("b.png", None)])])
    store.set_image_vectors([("ti", 0), ("ti", 1)], "img-m", np.eye(2, 3, dtype=np.float32))
    add(store, (entry("e5", "Alice flew a kite", sources=["ti"], images=[KITE]), vec(0, 0, 0, 1)))
    store.forget_entries([], reason=None, actor="user", owner=ALICE, turn_ids=["t5"])
    store.apply_decision("e5", ["e2"], "ignore", reason="unrelated")


def snapshot(store: Store, scopes: list[Scope]) -> dict[str, Any]:
    out: dict[str, Any] = {"usage": store.usage(), "queue": store.consolidation_queue()}
    for scope in scopes:
        turns_ = store.list_turns(scope)
        entries_ = store.list_entries(scope, include_deleted=True)
        out[f"{scope}"] = {
            "turns": turns_,
            "turn_vectors": {
                k: v.tolist() for k, v in store.turn_vectors([t.id for t in turns_]).items()
            },
            "entries": entries_,
            "vectors": {
                k: v.tolist() for k, v in store.entry_vectors([x.id for x in entries_]).items()
            },
            "history": {x.id: store.history(x.id) for x in entries_},
            "batches": store.list_batches(scope, statuses=("pending", "failed", "done")),
            "dense": store.search_dense(scope, vec(1, 0.3), 10),
            # ids only: BM25 scores depend on the whole store's term statistics
            "bm25": ids(store.search_bm25(scope, "Alice espresso hiking dogs", 10)),
            "pairs": {x.id: store.pairs_done(x.id, [y.id for y in entries_]) for x in entries_},
            "decisions": {x.id: store.decisions(x.id) for x in entries_},
            "images": {
                k: v.tolist() for k, v in sorted(store.image_vectors(scope, "img-m").items())
            },
        }
    return out


def test_export_import_round_trip_into_an_empty_store(make_store: Callable[..., Store]) -> None:
    source = make_store("source")
    populate(source)
    records = json.loads(json.dumps(list(source.export_records())))  # JSON-able
    kinds = {"turn", "entry", "history", "batch", "pair", "llm_call", "image_vector"}
    assert {r["kind"] for r in records} == kinds
    copy = make_store("copy")
    assert copy.import_records(records) == len(records)
    scopes = [ALICE, BOB, Scope("alice", run_id="r1")]
    assert snapshot(copy, scopes) == snapshot(source, scopes)
    query = "Alice espresso hiking dogs"
    assert copy.search_bm25(ALICE, query, 10) == source.search_bm25(ALICE, query, 10)
    assert copy.scopes() == source.scopes()
    again = copy.add_turns([turn("later")])
    assert again[0].seq > max(t.seq for t in source.list_turns(ALICE))


def test_scoped_export_holds_only_that_scope(make_store: Callable[..., Store]) -> None:
    source = make_store("source")
    populate(source)
    records = list(source.export_records(BOB))
    assert {r["kind"] for r in records} == {"turn", "entry", "history"}
    copy = make_store("copy")
    copy.import_records(records)
    assert copy.scopes() == [BOB]
    assert snapshot(copy, [BOB])[str(BOB)] == snapshot(source, [BOB])[str(BOB)]
    # the other owner's export moves into the same store beside it
    copy.import_records(list(source.export_records(ALICE)))
    assert [e.id for e in copy.list_entries(ALICE, include_deleted=True)] == [
        e.id for e in source.list_entries(ALICE, include_deleted=True)
    ]


def test_import_of_an_existing_id_changes_nothing(make_store: Callable[..., Store]) -> None:
    source = make_store("source")
    populate(source)
    records = list(source.export_records(ALICE))
    target = make_store("target")
    add(target, (entry("e2", "already here"), vec(1)))
    before = list(target.export_records())
    with pytest.raises(StorageError):
        target.import_records(records)
    assert list(target.export_records()) == before
    with pytest.raises(StorageError):
        source.import_records(list(source.export_records(BOB)))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("id"), r"record \d+ \(entry\) lacks 'id'"),
        (lambda r: r.pop("agent_id"), r"lacks 'agent_id'"),
        (lambda r: r.update(status="weird"), r"status is 'weird'; use one of active, deleted"),
        (lambda r: r.update(meta="{bad"), r"meta must be a JSON object"),
        (lambda r: r.update(meta=[1]), r"meta must be a JSON object"),
        (lambda r: r.update(version="x"), r"version must be a whole number"),
        (lambda r: r.update(version=0), r"version must be 1 or more"),
        (lambda r: r.update(speakers="str"), r"speakers must be a list of strings"),
        (lambda r: r.update(pinned="x"), r"pinned must be true or false"),
        (lambda r: r.update(origin="zzz"), r"origin is 'zzz'; use one of"),
        (lambda r: r.update(text=5), r"text must be a string"),
        (lambda r: r.update(text=None), r"text must be a string"),
        (lambda r: r.update(run_id=7), r"run_id must be a string"),
        (lambda r: r.update(timestamp="0001-01-01T00:00:00+14:00"), r"years 1 and 9999"),
        (lambda r: r.update(created_at="yesterday"), r"created_at must be an ISO 8601"),
        (lambda r: r.update(vector=[1, 2, 3]), r"vector must be base64"),
        (lambda r: r.update(vector="AAAA"), r"vector must hold \d+ float32"),
        (lambda r: r.update(images=[{"caption": "x"}]), r"images must be a list"),
        (
            lambda r: r.update(images=[{"url": " JavaScript:alert(1)", "caption": None}]),
            r"images must hold http\(s\) URLs",
        ),
        (lambda r: r.update(text="a\x00b"), r"text must be a string without NUL"),
        (lambda r: r.update(keywords=["\ud800"]), r"keywords must be a list of strings without"),
        (lambda r: r.update(meta={"what": "a\x00"}), r"meta must be a JSON object without NUL"),
    ],
)
def test_a_malformed_import_record_is_named_and_nothing_is_written(
    make_store: Callable[..., Store], change: Callable[[dict[str, Any]], Any], message: str
) -> None:
    source = make_store("source")
    populate(source)
    records = list(source.export_records(ALICE))
    bad = next(r for r in records if r["kind"] == "entry")
    change(bad)
    target = make_store("target")
    with pytest.raises(InputError, match=message):
        target.import_records(records)
    assert list(target.export_records()) == []


# -- delete_all ---------------------------------------------------------------------------------


def test_delete_all_purges_only_its_scope(store: Store) -> None:
    populate(store)
    bob_before = snapshot(store, [BOB])[str(BOB)]
    removed = store.delete_all(ALICE)
    assert removed == 7  # e1 (merged), e2, e3, e4 (deleted): tombstones too; e5 (images); ev1, sum1
    assert store.list_entries(ALICE, include_deleted=True) == []
    assert store.list_turns(ALICE) == []
    assert store.list_batches(ALICE, statuses=("pending", "failed", "done")) == []
    assert all(store.history(i) == [] for i in ("e1", "e2", "e3", "e4", "ev1", "sum1"))
    assert store.search_dense(ALICE, vec(1), 10) == []
    assert store.search_bm25(ALICE, "Alice", 10) == []
    assert store.consolidation_queue(ALICE) == []
    assert store.image_vectors(ALICE, "img-m") == {}
    assert snapshot(store, [BOB])[str(BOB)] == bob_before
    assert store.scopes() == [BOB]
    assert store.delete_all(ALICE) == 0


def test_delete_all_with_run_id_purges_only_that_run(store: Store) -> None:
    r1, r2 = Scope("alice", run_id="r1"), Scope("alice", run_id="r2")
    add(store, (entry("e1", "run one fact", r1), vec(1)), (entry("e2", "run two fact", r2), vec(1)))
    store.add_turns([turn("t1", r1), turn("t2", r2)])
    assert store.delete_all(r1) == 1
    assert [e.id for e in store.list_entries(ALICE, include_deleted=True)] == ["e2"]
    assert [t.id for t in store.list_turns(ALICE)] == ["t2"]
    assert ids(store.search_bm25(ALICE, "fact", 10)) == ["e2"]


def test_search_revision_moves_with_every_change_of_the_owner(store: Store) -> None:
    seen = [store.search_revision(ALICE)]

    def moved() -> None:
        now = store.search_revision(ALICE)
        assert now not in seen, "the revision did not move"
        seen.append(now)

    store.add_turns([turn("t1"), turn("t2")])
    moved()
    assert store.count_turns(ALICE) == 2 and store.count_turns(BOB) == 0
    store.set_turn_views([("t1", "turn t1", 2)], mat(vec(1)))
    moved()  # a turn's vector arrived: the dense keys change
    add(store, (entry("e1", "Alice likes tea", sources=["t1"]), vec(1)))
    moved()
    store.update_entry("e1", "Alice likes coffee", vec(0, 1), reason=None, actor="user")
    moved()
    store.delete_entry("e1", reason=None, actor="user")
    moved()
    before = store.search_revision(ALICE)
    store.add_turns([turn("b1", BOB)])
    add(store, (entry("eb", "Bob likes jazz", BOB), vec(1)))
    assert store.search_revision(ALICE) == before  # another owner's writes do not count


def test_entry_kind_and_meta_are_kept_filtered_and_never_queued(store: Store) -> None:
    populate(store)
    event, summary = store.get_entry("ev1"), store.get_entry("sum1")
    assert event.kind == "event" and event.meta["facts"] == ["e2"]
    assert event.meta["when"] == "2024-05-01" and event.meta["who"] == ["Alice"]
    assert summary.kind == "summary" and summary.version == 2
    assert summary.meta == {"session_id": "s1", "turns": 3, "entries": ["e1", "e2"]}
    assert summary.sources == ["t0", "t1", "t2"]
    assert [e.id for e in store.list_entries(ALICE, kind="summary")] == ["sum1"]
    assert [e.id for e in store.list_entries(ALICE, kind="event")] == ["ev1"]
    assert store.get_entry("e2").kind == "fact" and store.get_entry("e2").meta == {}
    queue = store.consolidation_queue()
    assert "ev1" not in queue and "sum1" not in queue  # structure is rebuilt, not merged
    records = {r["id"]: r for r in store.export_records() if r["kind"] == "entry"}
    assert records["sum1"]["memory_kind"] == "summary" and records["e2"]["memory_kind"] == "fact"
    bad = {**records["ev1"], "id": "ev2", "memory_kind": "chapter"}
    with pytest.raises(InputError, match="memory_kind"):
        store.import_records([bad])


# -- schema 6: images on entries, image vectors, forgotten turns, decisions ------------------


def test_entry_images_round_trip_and_their_captions_are_searchable(store: Store) -> None:
    add(
        store,
        (entry("e1", "Alice flew a kite", images=[KITE]), vec(1)),
        (entry("e2", "Alice went to the dunes on foot"), vec(0, 1)),
    )
    assert store.get_entry("e1").images == [KITE]
    assert ids(store.search_bm25(ALICE, "red", 5)) == ["e1"]  # only in the caption
    assert ids(store.search_bm25(ALICE, "dunes", 5))[:1] in (["e1"], ["e2"])
    store.update_entry("e1", "Alice flew a red kite", vec(1), reason=None, actor="user")
    assert store.get_entry("e1").images == [KITE]


def test_merge_carries_the_targets_images_to_the_receiver(store: Store) -> None:
    other = ImageRef("b.png", "a blue boat")
    add(
        store,
        (entry("old", "kite day", images=[KITE, other]), vec(1)),
        (entry("new", "kite day again", images=[KITE]), vec(1, 0.1)),
    )
    assert store.apply_decision("old", ["new"], "merge")
    assert store.get_entry("new").images == [KITE, other]
    assert ids(store.search_bm25(ALICE, "boat", 5)) == ["new"]


def test_decisions_are_kept_ignore_too_from_both_sides(store: Store) -> None:
    add(
        store,
        (entry("a", "one"), vec(1)),
        (entry("b", "two"), vec(0, 1)),
        (entry("c", "three"), vec(0, 0, 1)),
    )
    assert store.apply_decision("a", ["b"], "ignore", reason="unrelated")
    assert store.apply_decision("b", ["c"], "update", new_text="two!", vector=vec(0, 1))
    (d,) = store.decisions("a")
    assert (d.target_id, d.source_id, d.decision, d.reason) == ("a", "b", "ignore", "unrelated")
    assert d.decided_at is not None
    assert [(x.target_id, x.decision) for x in store.decisions("b")] == [
        ("a", "ignore"),
        ("b", "update"),
    ]
    assert store.decisions("nobody") == []


def test_forgetting_turns_takes_them_out_of_the_pipeline(store: Store) -> None:
    store.add_turns([turn("s1"), turn("s2"), turn("s3"), turn("x", BOB)])
    store.assign_segments([("seg", ["s2", "s3"])])
    store.create_batch(Batch(id="b", scope=ALICE, turn_ids=["s2", "s3"]))
    before = store.search_revision(ALICE)
    with pytest.raises(NotFoundError):  # another owner's turn: nothing changes
        store.forget_entries([], reason=None, actor="u", owner=ALICE, turn_ids=["s1", "x"])
    assert not any(t.forgotten for t in store.list_turns(ALICE))
    store.forget_entries([], reason=None, actor="u", owner=ALICE, turn_ids=["s1", "s2"])
    got = {t.id: (t.forgotten, t.stage) for t in store.list_turns(ALICE)}
    assert got == {
        "s1": (True, TurnStage.EXTRACTED),
        "s2": (True, TurnStage.EXTRACTED),
        "s3": (False, TurnStage.BATCHED),
    }
    assert [b.turn_ids for b in store.list_batches(ALICE)] == [["s3"]]
    assert store.list_turns(ALICE, stage=TurnStage.SENSORY) == []
    assert store.search_revision(ALICE) != before
    store.forget_entries([], reason=None, actor="u", owner=ALICE, turn_ids=["s3"])
    assert store.list_batches(ALICE) == []  # nothing left in it


def test_image_vectors_are_kept_per_owner_and_go_with_their_turn(store: Store) -> None:
    store.add_turns([turn("t1", images=[KITE]), turn("t2", BOB, images=[KITE])])
    before = store.search_revision(ALICE)
    store.set_image_vectors([("t1", 0)], "m", np.array([[0.6, 0.8]], dtype=np.float32))
    store.set_image_vectors([("t2", 0)], "m", np.array([[1.0, 0.0]], dtype=np.float32))
    assert store.search_revision(ALICE) != before
    ((key, got),) = store.image_vectors(ALICE, "m").items()
    assert key == ("t1", 0) and got.tolist() == pytest.approx([0.6, 0.8])
    assert store.image_vectors(ALICE, "other-model") == {}
    for bad in ([("nope", 0)], [("t1", 1)]):
        with pytest.raises(NotFoundError):
            store.set_image_vectors(bad, "m", np.ones((1, 2), dtype=np.float32))
    store.erase(ALICE, [], ["t1"], cause="forget", actor="u")
    assert store.image_vectors(ALICE, "m") == {}
    store.delete_all(BOB)
    assert store.image_vectors(BOB, "m") == {}
