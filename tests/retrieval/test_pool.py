"""Search ranks memories and raw turns in ONE pool; ``context()`` packs it into a budget."""

from __future__ import annotations

from lightmem import InputError
from lightmem.llm.scripted import ScriptedLLM
from lightmem.tokens import count_tokens
from tests.support.memories import MakeMemory, conversation

BIG = {"sensory_tokens": 100_000, "shortterm_tokens": 100_000}


def llm_memory(make_memory: MakeMemory) -> tuple[object, list]:
    mem = make_memory(llm="scripted", buffer=BIG)
    sessions = conversation(n_sessions=2, turns_per_session=4)
    for i, s in enumerate(sessions):
        mem.add(s, user_id="alice", session_id=f"s{i}", timestamp=f"2024-03-0{i + 1}T09:00:00")
    assert isinstance(mem.llm, ScriptedLLM)
    # The extraction keeps ONE fact: everything else is only in the raw turns.
    mem.llm.enqueue(
        {"memories": [{"text": "Maya's cat Pixel eats salmon kibble.", "sources": [1]}]}
    )
    mem.flush(user_id="alice")
    return mem, mem.turns(user_id="alice")


def test_a_turn_no_fact_covers_is_found(make_memory: MakeMemory) -> None:
    mem, turns = llm_memory(make_memory)
    hits = mem.search("pottery classes on Thursday", user_id="alice", limit=3)
    assert hits[0].kind == "turn" and "pottery" in hits[0].text.lower()
    assert hits[0].sources == [hits[0].turn] and hits[0].turn.id == turns[6].id
    assert hits[0].relevance == 1.0 and all(0 < h.relevance <= 1 for h in hits)


def test_a_turn_cited_by_a_chosen_fact_is_left_out(make_memory: MakeMemory) -> None:
    mem, turns = llm_memory(make_memory)
    hits = mem.search("What does Pixel eat? salmon kibble", user_id="alice", limit=10)
    assert hits[0].kind == "memory" and hits[0].sources[0].id == turns[0].id
    assert turns[0].id not in [h.turn.id for h in hits if h.turn is not None]


def test_memories_only_on_request(make_memory: MakeMemory) -> None:
    mem, _ = llm_memory(make_memory)
    hits = mem.search("pottery", user_id="alice", include_turns=False)
    assert [h.kind for h in hits] == ["memory"]


def test_turns_obey_scope_session_and_time(make_memory: MakeMemory) -> None:
    mem, _ = llm_memory(make_memory)
    assert mem.search("pottery", user_id="bob") == []
    in_s0 = mem.search("pottery", user_id="alice", run_id="s0", limit=20)
    assert all(h.scope.run_id == "s0" for h in in_s0)
    late = mem.search("pottery", user_id="alice", time_range=("2024-03-02", None), limit=20)
    assert late and all(h.timestamp is not None and h.timestamp.day == 2 for h in late)


def test_no_llm_memory_is_its_turn_and_deleting_it_hides_the_turn(
    make_memory: MakeMemory,
) -> None:
    mem = make_memory()
    for i, s in enumerate(conversation()):
        mem.add(s, user_id="alice", session_id=f"s{i}")
    mem.flush(user_id="alice")
    hit = mem.search("pottery classes", user_id="alice", limit=1)[0]
    assert hit.kind == "memory" and hit.entry is not None and hit.entry.origin == "turn"
    mem.delete(hit.id)
    again = mem.search("pottery classes", user_id="alice", limit=20)
    assert hit.id not in [h.id for h in again]
    assert hit.sources[0].id not in [t.id for h in again for t in h.sources]


def test_an_edited_memory_is_found_by_its_new_text(make_memory: MakeMemory) -> None:
    mem = make_memory()
    for i, s in enumerate(conversation()):
        mem.add(s, user_id="alice", session_id=f"s{i}")
    mem.flush(user_id="alice")
    entry = mem.search("Lisbon trip", user_id="alice", limit=1)[0].entry
    assert entry is not None
    mem.update(entry.id, "Maya cancelled the Lisbon trip.")
    assert mem.search("cancelled", user_id="alice", mode="bm25")[0].id == entry.id


def test_context_fits_the_budget_and_quotes_turns(make_memory: MakeMemory) -> None:
    mem, _ = llm_memory(make_memory)
    block = mem.context(
        "What does Maya do on Thursdays and what does Pixel eat?",
        user_id="alice",
        budget_tokens=120,
    )
    assert 0 < block.tokens <= 120 and block.tokens == count_tokens(block.text)
    assert block.text.startswith("From the conversation:")
    assert '- [2024-03-02] Maya: "I took up pottery classes on Thursday evenings."' in block.text
    # the fact and the turn it was drawn from say the same: one of them, once
    salmon = [line for line in block.text.splitlines() if "salmon" in line]
    assert len(salmon) == 1, block.text
    small = mem.context("pottery", user_id="alice", budget_tokens=25)
    assert small.tokens <= 25
    for bad in (0, -5, True):
        try:
            mem.context("pottery", user_id="alice", budget_tokens=bad)
        except InputError as exc:
            assert "budget_tokens" in str(exc)
        else:
            raise AssertionError(f"budget_tokens={bad!r} was accepted")


def test_a_large_owner_is_ranked_as_a_small_one(make_memory: MakeMemory) -> None:
    """``pool_max_items`` no longer switches a large owner to a memories-only ranking."""
    mem = make_memory(llm="scripted", buffer=BIG, retrieval={"pool_max_items": 3})
    mem.add(conversation(1, 4)[0], user_id="alice", session_id="s0")
    assert isinstance(mem.llm, ScriptedLLM)
    mem.llm.enqueue({"memories": [{"text": "Maya's cat Pixel eats salmon.", "sources": [1]}]})
    mem.flush(user_id="alice")
    hits = mem.search("nurse job at Riverside hospital", user_id="alice", limit=5)
    assert hits[0].kind == "turn" and "nurse" in hits[0].text.lower()


def test_the_index_follows_writes_by_delta(make_memory: MakeMemory) -> None:
    """After a write, a search reads the rows the change log names, not the owner's pool."""
    mem = make_memory()
    for i, s in enumerate(conversation()):
        mem.add(s, user_id="alice", session_id=f"s{i}")
    mem.flush(user_id="alice")
    assert mem.search("pottery", user_id="alice")
    mem.add("I started a new job as a nurse at Riverside.", user_id="alice", session_id="s9")
    mem.flush(user_id="alice")
    store = mem.store
    read: list[int] = []
    for name in ("list_entries", "list_turns"):
        real = getattr(store, name)

        def counted(*args: object, _real: object = real, **kwargs: object) -> object:
            read.append(1)
            return _real(*args, **kwargs)  # type: ignore[operator]

        setattr(store, name, counted)
    hits = mem.search("new job as a nurse", user_id="alice", limit=3)
    assert "Riverside" in hits[0].text
    assert read == []  # no full read of the owner's memories or turns


def test_turns_at_the_ends_of_the_date_range_are_searched_and_filtered(
    make_memory: MakeMemory,
) -> None:
    """A turn of 0001-01-01 made every search of its scope fail ("year 0 is out of range":
    a naive time was read as local time); the ends of years 1-9999 are ordinary dates."""
    mem = make_memory()
    stamps = ["0001-01-01T00:00:00", "0001-01-01T00:00:00-14:00", "9999-12-31T23:59:59+14:00"]
    for i, ts in enumerate(stamps):
        mem.add(
            [{"role": "user", "content": f"beekeeping note {i}", "timestamp": ts}], user_id="alice"
        )
    mem.add("beekeeping note today", user_id="alice", timestamp="2024-05-01T10:00:00")
    mem.flush(user_id="alice")
    assert len(mem.search("beekeeping note", user_id="alice", limit=10)) == 4
    assert "beekeeping" in mem.context("beekeeping", user_id="alice").text
    early = mem.search("beekeeping", user_id="alice", time_range=(None, "0001-01-02"))
    assert sorted(h.text[-6:] for h in early) == ["note 0", "note 1"]
    late = mem.search("beekeeping", user_id="alice", time_range=("2024-01-01", None))
    assert sorted(h.text[-6:] for h in late) == [" today", "note 2"]
