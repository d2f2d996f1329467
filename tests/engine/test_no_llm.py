"""The engine end to end in no-LLM mode (the default without an LLM)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from lightmem import InputError, NotFoundError
from lightmem.types import EntryStatus, TurnStage
from tests.support.memories import MakeMemory, conversation


def ingest(mem, user: str = "alice") -> None:
    for i, session in enumerate(conversation()):
        mem.add(session, user_id=user, session_id=f"s{i}", timestamp=f"2024-03-0{i + 1}T10:00:00")


def test_no_llm_mode_is_announced(make_memory: MakeMemory) -> None:
    mem = make_memory()
    assert mem.llm_mode == "none"
    assert "no-LLM mode" in mem.describe_llm()


def test_turns_are_durable_before_processing(make_memory: MakeMemory) -> None:
    mem = make_memory(buffer={"sensory_tokens": 10_000})
    res = mem.add("I love green tea", user_id="alice", session_id="s1")
    assert len(res.turn_ids) == 1
    (turn,) = mem.turns(user_id="alice")
    assert turn.stage == TurnStage.SENSORY and turn.content == "I love green tea"
    assert mem.get_all(user_id="alice") == []  # still buffered
    assert mem.usage().buffered_turns == 1


def test_flush_builds_one_entry_per_turn_with_sources(make_memory: MakeMemory) -> None:
    mem = make_memory()
    ingest(mem)
    mem.flush(user_id="alice")
    entries = mem.get_all(user_id="alice")
    turns = mem.turns(user_id="alice")
    assert len(entries) == len(turns) == 8
    assert all(t.stage == TurnStage.EXTRACTED for t in turns)
    by_id = {t.id: t for t in turns}
    for e in entries:
        (src,) = e.sources
        assert e.text == f"{by_id[src].speaker}: {by_id[src].content}"
        assert e.timestamp == by_id[src].timestamp
        assert e.topic_id is not None and e.origin == "turn"
    assert mem.usage().total.calls == 0


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_search_returns_hits_with_source_turns(make_memory: MakeMemory, mode: str) -> None:
    mem = make_memory()
    ingest(mem)
    mem.flush()
    hits = mem.search("Pixel salmon flavoured kibble", user_id="alice", mode=mode, limit=3)
    assert hits, mode
    assert "salmon" in hits[0].text
    assert hits[0].sources[0].content.startswith("My cat Pixel")
    assert hits == sorted(hits, key=lambda h: -h.score)


def test_scopes_never_mix(make_memory: MakeMemory) -> None:
    mem = make_memory()
    ingest(mem, "alice")
    mem.add({"role": "user", "content": "Bob's cat Pixel eats tuna"}, user_id="bob")
    mem.flush()
    for mode in ("dense", "bm25", "hybrid"):
        for h in mem.search("cat Pixel eats", user_id="bob", mode=mode):  # type: ignore[arg-type]
            assert h.entry.scope.user_id == "bob"
        assert all(
            h.entry.scope.user_id == "alice" for h in mem.search("tuna", user_id="alice", mode=mode)
        )  # type: ignore[arg-type]
    bob_id = mem.get_all(user_id="bob")[0].id
    with pytest.raises(NotFoundError):
        mem.get(bob_id, user_id="alice")


def test_time_range_and_session_filters(make_memory: MakeMemory) -> None:
    mem = make_memory()
    ingest(mem)
    mem.flush()
    late = mem.search(
        "trip pottery cat job", user_id="alice", limit=20, time_range=(datetime(2024, 3, 2), None)
    )
    assert late and all(h.entry.timestamp == datetime(2024, 3, 2, 10) for h in late)
    s0 = mem.search("trip pottery cat job", user_id="alice", run_id="s0", limit=20)
    assert s0 and all(h.entry.scope.run_id == "s0" for h in s0)


def test_update_delete_history(make_memory: MakeMemory) -> None:
    mem = make_memory()
    ingest(mem)
    mem.flush()
    entry = mem.search("Lisbon trip", user_id="alice", mode="bm25")[0].entry
    updated = mem.update(entry.id, "Maya cancelled the Lisbon trip.", reason="user edit")
    assert updated.version == 2 and updated.text == "Maya cancelled the Lisbon trip."
    assert mem.search("cancelled", user_id="alice", mode="bm25")[0].id == entry.id
    mem.delete(entry.id)
    assert mem.get(entry.id).status == EntryStatus.DELETED
    assert entry.id not in {h.id for h in mem.search("Lisbon", user_id="alice", limit=50)}
    events = [(h.event.value, h.new_text) for h in mem.history(entry.id)]
    assert events[0][0] == "ADD"
    assert events[1] == ("UPDATE", "Maya cancelled the Lisbon trip.")
    assert events[2][0] == "DELETE"
    with pytest.raises(InputError):
        mem.update(entry.id, "  ")
    with pytest.raises(NotFoundError):
        mem.history("no-such-id")


def test_store_survives_restart(make_memory: MakeMemory, tmp_path: Path) -> None:
    path = tmp_path / "persist"
    mem = make_memory(path)
    ingest(mem)
    mem.add("An unflushed thought about tea", user_id="alice")
    mem.flush(user_id="alice")
    before = [(e.id, e.text) for e in mem.get_all(user_id="alice")]
    mem.close()
    again = make_memory(path)
    assert [(e.id, e.text) for e in again.get_all(user_id="alice")] == before
    assert again.search("tea", user_id="alice", mode="bm25")[0].text.endswith("about tea")


def test_buffered_turns_are_picked_up_after_restart(
    make_memory: MakeMemory, tmp_path: Path
) -> None:
    path = tmp_path / "resume"
    mem = make_memory(path, buffer={"sensory_tokens": 100_000})
    ingest(mem)
    assert mem.get_all(user_id="alice") == []
    mem.close()
    again = make_memory(path)
    again.flush()
    assert len(again.get_all(user_id="alice")) == 8


def test_delete_all_only_touches_its_scope(make_memory: MakeMemory) -> None:
    mem = make_memory()
    ingest(mem, "alice")
    ingest(mem, "bob")
    mem.flush()
    assert mem.delete_all(user_id="alice") == 8
    assert mem.get_all(user_id="alice") == [] and mem.turns(user_id="alice") == []
    assert len(mem.get_all(user_id="bob")) == 8


def test_no_llm_consolidation_merges_only_near_duplicates(make_memory: MakeMemory) -> None:
    mem = make_memory()
    mem.add(
        {"role": "user", "name": "Maya", "content": "My cat Pixel eats salmon."},
        user_id="alice",
        timestamp="2024-01-01T00:00:00",
    )
    mem.add(
        {"role": "user", "name": "Maya", "content": "I like hiking in the Alps."},
        user_id="alice",
        timestamp="2024-01-02T00:00:00",
    )
    mem.add(
        {"role": "user", "name": "Maya", "content": "My cat Pixel eats salmon."},
        user_id="alice",
        timestamp="2024-01-03T00:00:00",
    )
    mem.flush()
    result = mem.consolidate(user_id="alice")
    assert result.merged == 1 and result.updated == result.deleted == 0
    active = mem.get_all(user_id="alice")
    assert len(active) == 2
    survivor = next(e for e in active if "salmon" in e.text)
    assert len(survivor.sources) == 2  # the merged copy's turn is kept as evidence
    assert mem.consolidate(user_id="alice").merged == 0  # idempotent


def test_near_duplicates_whose_details_differ_are_two_facts(make_memory: MakeMemory) -> None:
    """Similarity alone never merges entries that differ in a number or a name: the hash
    embedder puts these far above the duplicate threshold, and both facts stay."""
    mem = make_memory(consolidation={"duplicate_threshold": 0.5, "threshold": 0.5})
    for day, text in enumerate(
        [
            "Traveller Orin34 booked cabin 12 on the ferry to Vel34.",
            "Traveller Orin346 booked cabin 12 on the ferry to Vel346.",
            "Traveller Orin346 booked cabin 12 on the ferry to Vel346 at dawn.",
        ],
        start=1,
    ):
        mem.add(
            {"role": "user", "content": text}, user_id="alice", timestamp=f"2024-01-0{day}T00:00:00"
        )
    mem.flush()
    result = mem.consolidate(user_id="alice")
    texts = sorted(e.text for e in mem.get_all(user_id="alice"))
    assert any("Orin34 " in t for t in texts)  # not merged into Orin346
    assert result.merged == 1  # the third keeps every detail of the second: merged
    assert sum("Orin346" in t for t in texts) == 1
    assert mem.consolidate(user_id="alice").merged == 0


def test_covers_reads_numbers_and_names() -> None:
    from lightmem.longterm.consolidation import covers

    assert covers("Alice likes tea.", "Alice likes tea.")
    assert covers("Maya went to Lisbon in May 2023.", "Maya went to Lisbon.")
    assert not covers("Maya went to Lisbon.", "Maya went to Lisbon in May 2023.")
    assert not covers("Room 346 is booked.", "Room 34 is booked.")
    assert not covers("She met Tom at the cafe.", "She met Jonas at the cafe.")
    assert covers("the cat sleeps. Then it eats.", "The cat sleeps. then it eats.")
    # issue 19, finding 6: details are compared in their roles, not as a set
    assert not covers("Invoice 50 is for 20 dollars.", "Invoice 20 is for 50 dollars.")
    assert not covers("Session 1232 starts at 11.", "Session 11 starts at 1232.")
    assert not covers("Session 1232 notes, room 11.", "Session 11 notes, room 11.")
    assert covers("Invoice 20 is for 50 dollars, paid in May.", "Invoice 20 is for 50 dollars.")


def test_details_that_swap_places_are_two_facts(make_memory: MakeMemory) -> None:
    """Without an LLM, "Invoice 50 is for 20 dollars." is no near-duplicate of "Invoice 20
    is for 50 dollars.": both stay, and each turn still surfaces in search."""
    mem = make_memory(consolidation={"duplicate_threshold": 0.5, "threshold": 0.5})
    texts = ["Invoice 20 is for 50 dollars.", "Invoice 50 is for 20 dollars."]
    for day, text in enumerate(texts, start=1):
        mem.add({"role": "user", "content": text}, user_id="u", timestamp=f"2024-01-0{day}")
    mem.flush()
    assert mem.consolidate(user_id="u").merged == 0
    assert sorted(e.text for e in mem.get_all(user_id="u")) == [f"user: {t}" for t in texts]
    for text in texts:
        hits = mem.search(text, user_id="u", limit=5, mode="bm25")
        assert any(text in h.text for h in hits)


def test_bad_input_is_refused_whole_and_nothing_accepted_is_lost(make_memory: MakeMemory) -> None:
    mem = make_memory(buffer={"sensory_tokens": 100_000})
    mem.add("I keep bees on my balcony", user_id="alice")
    bad_batches = [
        [{"role": "user", "content": "fine"}, {"role": "user"}],
        [{"role": "user", "content": "fine"}, {"role": "wizard", "content": "x"}],
        [{"role": "user", "content": "fine", "timestamp": "the day after"}],
    ]
    for bad in bad_batches:
        with pytest.raises(InputError):
            mem.add(bad, user_id="alice")
    with pytest.raises(InputError, match="timestamp"):
        mem.add("x", user_id="alice", timestamp="soonish")
    with pytest.raises(InputError, match="scope is required"):
        mem.add("x")
    (turn,) = mem.turns(user_id="alice")
    assert turn.content == "I keep bees on my balcony"
    mem.flush()
    assert [e.text for e in mem.get_all(user_id="alice")] == ["user: I keep bees on my balcony"]


def test_misspelled_config_key_is_named(tmp_path: Path) -> None:
    from lightmem import ConfigError, Memory

    with pytest.raises(ConfigError, match=r"consolidation\.treshold"):
        Memory(tmp_path / "s", config={"consolidation": {"treshold": 0.5}})
    with pytest.raises(ConfigError, match="unknown embedder provider 'minilmm'"):
        Memory(tmp_path / "s", config={"embedder": "minilmm"})
