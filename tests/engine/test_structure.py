"""Structured memory: session summaries at sleep time, hierarchical search, events."""

from __future__ import annotations

import json
from typing import Any

from lightmem import Memory
from lightmem.llm.base import ChatMessage
from lightmem.llm.scripted import ScriptedLLM
from lightmem.longterm.summaries import SUMMARY_PROMPT
from lightmem.shortterm.extraction import EVENT_PROMPT
from lightmem_bench.fake import plausible_reply
from tests.support.memories import MakeMemory

SESSIONS = {
    "s1": [
        ("Maya", "My cat Pixel only eats salmon kibble now."),
        ("Jonas", "Pixel is picky, salmon every day then."),
        ("Maya", "The vet said salmon kibble is fine for Pixel."),
    ],
    "s2": [
        ("Maya", "I booked a ski trip to Chamonix for February."),
        ("Jonas", "Chamonix is great for skiing, take the cable car."),
        ("Maya", "We rent skis in Chamonix next to the station."),
    ],
    "s3": [
        ("Jonas", "My band plays a concert at the Blue Note on Friday."),
        ("Maya", "I will come to the Blue Note concert with friends."),
        ("Jonas", "The concert starts at nine, bring earplugs."),
    ],
}
DAYS = {"s1": "2024-01-03T10:00:00", "s2": "2024-02-05T10:00:00", "s3": "2024-03-07T10:00:00"}


def add_sessions(mem: Memory, names: list[str] | None = None) -> None:
    for sid in names or list(SESSIONS):
        messages = [
            {"role": "user", "speaker": who, "content": text, "timestamp": DAYS[sid]}
            for who, text in SESSIONS[sid]
        ]
        mem.add(messages, user_id="maya", session_id=sid)
    mem.flush(user_id="maya")


def summaries(mem: Memory) -> dict[str, Any]:
    return {e.meta["session_id"]: e for e in mem.get_all(user_id="maya") if e.kind == "summary"}


def test_extractive_summaries_are_built_versioned_and_scoped(make_memory: MakeMemory) -> None:
    mem = make_memory()
    add_sessions(mem, ["s1", "s2"])
    result = mem.consolidate(user_id="maya")
    assert result.summaries == 2 and result.failed_summaries == []
    got = summaries(mem)
    assert set(got) == {"s1", "s2"}
    s1 = got["s1"]
    assert s1.scope.user_id == "maya" and s1.origin == "turn"  # extractive: no LLM
    assert "salmon" in s1.text and "Chamonix" not in s1.text
    assert s1.meta["turns"] == 3 and s1.meta["method"] == "extractive"
    assert s1.meta["start"].startswith("2024-01-03")
    turns = mem.turns(user_id="maya", session_id="s1")
    assert s1.sources == [t.id for t in turns]
    drawn = {e.id for e in mem.get_all(user_id="maya") if set(e.sources) & set(s1.sources)}
    assert set(s1.meta["entries"]) == drawn - {s.id for s in summaries(mem).values()}
    # nothing changed: nothing rebuilt
    assert mem.consolidate(user_id="maya").summaries == 0
    # the session grows: a new version, with the reason in its history
    mem.add(
        [
            {
                "role": "user",
                "speaker": "Maya",
                "content": "Pixel also likes tuna.",
                "timestamp": DAYS["s1"],
            }
        ],
        user_id="maya",
        session_id="s1",
    )
    mem.flush(user_id="maya")
    assert mem.consolidate(user_id="maya").summaries == 1
    grown = summaries(mem)["s1"]
    assert grown.id == s1.id and grown.version == 2 and grown.meta["turns"] == 4
    last = mem.history(grown.id)[-1]
    assert last.actor == "summary" and "grew to 4 turns" in (last.reason or "")
    assert summaries(mem)["s2"].version == 1
    # another user sees none of them
    assert [e for e in mem.get_all(user_id="jonas") if e.kind == "summary"] == []


def test_summaries_are_not_flat_hits(make_memory: MakeMemory) -> None:
    mem = make_memory()
    add_sessions(mem)
    mem.consolidate(user_id="maya")
    for mode in ("hybrid", "dense", "bm25", "hierarchical"):
        hits = mem.search("Pixel salmon kibble", user_id="maya", mode=mode, limit=20)
        assert hits and all(h.entry is None or h.entry.kind != "summary" for h in hits)


def scripted(mem: Memory) -> ScriptedLLM:
    assert isinstance(mem.llm, ScriptedLLM)
    return mem.llm


def test_llm_summaries_pack_sessions_into_few_calls(make_memory: MakeMemory) -> None:
    mem = make_memory(llm="scripted", summaries={"sessions_per_call": 2})
    scripted(mem).respond_with(plausible_reply)
    add_sessions(mem)
    before = mem.usage().stages.get("summary")
    assert before is None
    result = mem.consolidate(user_id="maya")
    assert result.summaries == 3
    assert mem.usage().stages["summary"].calls == 2  # 2 sessions + 1 session
    got = summaries(mem)
    assert got["s2"].meta["method"] == "llm" and "Chamonix" in got["s2"].text


def test_a_failed_summary_is_visible_and_retried(make_memory: MakeMemory) -> None:
    mem = make_memory(llm="scripted", extraction={"max_retries": 0})
    llm = scripted(mem)
    broken = {"on": True}

    def reply(messages: list[ChatMessage], schema: dict[str, Any] | None) -> Any:
        system = messages[0].content
        if system == SUMMARY_PROMPT and broken["on"]:
            return "not json at all"
        return plausible_reply(messages, schema)

    llm.respond_with(reply)
    add_sessions(mem, ["s1", "s2"])
    result = mem.consolidate(user_id="maya")
    assert sorted(result.failed_summaries) == ["s1", "s2"] and result.summaries == 0
    failure = mem.usage().failures[0]
    assert failure.where == "summary" and failure.ref in ("s1", "s2")
    assert "salmon" not in failure.message  # user text stays out of the log
    broken["on"] = False
    again = mem.consolidate(user_id="maya")
    assert again.summaries == 2 and again.failed_summaries == []


def test_hierarchical_search_drills_into_the_best_sessions(make_memory: MakeMemory) -> None:
    mem = make_memory()
    add_sessions(mem)
    mem.consolidate(user_id="maya")
    query = "Chamonix ski trip"
    flat = mem.search(query, user_id="maya", limit=5, mode="hybrid")
    deep = mem.search(query, user_id="maya", limit=5)  # the default mode
    assert mem.config.retrieval.mode == "hierarchical"
    assert all(h.session is None for h in flat)
    assert deep[0].session is not None and deep[0].session.meta["session_id"] == "s2"
    assert all(t.session_id == "s2" for t in deep[0].sources)
    # merged with the flat ranking: the best flat hit is still there
    assert flat[0].id in [h.id for h in deep]
    # a time range outside every session: nothing to drill into, nothing found
    none = mem.search(
        query, user_id="maya", mode="hierarchical", time_range=("2030-01-01", "2030-02-01")
    )
    assert none == []
    block = mem.context(query, user_id="maya", hierarchical=True, budget_tokens=400)
    assert block.text.startswith("Sessions (oldest first):")
    assert block.tokens <= 400 and "Chamonix" in block.text.splitlines()[1]
    plain = mem.context(query, user_id="maya", budget_tokens=400, hierarchical=False)
    assert not plain.text.startswith("Sessions")
    assert mem.context(query, user_id="maya", budget_tokens=400).text == block.text


def event_reply(messages: list[ChatMessage], schema: dict[str, Any] | None) -> Any:
    if messages[0].content != EVENT_PROMPT:
        return plausible_reply(messages, schema)
    return {
        "memories": [
            {"text": "Maya booked a ski trip to Chamonix for February 2024.", "sources": [1]},
            {"text": "Maya will rent skis next to the Chamonix station.", "sources": [3]},
            {"text": "Jonas recommends the Chamonix cable car.", "sources": [2]},
        ],
        "events": [
            {
                "text": "Maya plans a ski trip to Chamonix.",
                "when": "February 2024",
                "who": ["Maya"],
                "where": "Chamonix",
                "facts": [1, 2],
                "sources": [1],
            },
            {
                "text": "Jonas advises Maya on Chamonix.",
                "who": ["Jonas"],
                "facts": [3, 9],
                "sources": [2],
            },
        ],
        "links": [
            {"source": 1, "target": 2, "relation": "follow-up"},
            {"source": 1, "target": 7, "relation": "cause"},
        ],
    }


def test_event_mode_binds_facts_and_a_hit_brings_them(make_memory: MakeMemory) -> None:
    mem = make_memory(
        llm="scripted", extraction={"mode": "event"}, buffer={"shortterm_tokens": 10_000}
    )
    scripted(mem).respond_with(event_reply)
    add_sessions(mem, ["s2"])
    everything = mem.get_all(user_id="maya")
    facts = {e.text: e for e in everything if e.kind == "fact"}
    events = [e for e in everything if e.kind == "event"]
    assert len(facts) == 3 and len(events) == 2
    trip, advice = sorted(events, key=lambda e: e.text, reverse=True)
    assert trip.meta["facts"] == [
        facts["Maya booked a ski trip to Chamonix for February 2024."].id,
        facts["Maya will rent skis next to the Chamonix station."].id,
    ]
    assert trip.meta["when"] == "February 2024" and trip.meta["where"] == "Chamonix"
    assert trip.meta["links"] == [{"to": advice.id, "relation": "follow_up"}]
    turns = mem.turns(user_id="maya", session_id="s2")
    assert trip.sources == [turns[0].id, turns[2].id]  # its own turn and its facts'
    assert advice.meta["facts"] == [facts["Jonas recommends the Chamonix cable car."].id]
    assert mem.usage().invalid_sources == 2  # fact 9 and event 7 name nothing
    # searchable; the hit brings the facts it binds, and the context writes them beneath it
    hits = mem.search("Maya ski trip plans", user_id="maya", limit=10)
    hit = next(h for h in hits if h.entry is not None and h.entry.id == trip.id)
    assert [f.id for f in hit.facts] == trip.meta["facts"]
    block = mem.context("Maya ski trip plans", user_id="maya", budget_tokens=600)
    assert "  - Maya will rent skis next to the Chamonix station." in block.text
    # a deleted fact is no longer brought
    mem.delete(trip.meta["facts"][1], user_id="maya")
    hit = next(
        h
        for h in mem.search("Maya ski trip plans", user_id="maya", limit=10)
        if h.entry is not None and h.entry.id == trip.id
    )
    assert [f.id for f in hit.facts] == trip.meta["facts"][:1]
    # consolidation never merges structure
    mem.consolidate(user_id="maya")
    assert mem.get(trip.id).status.value == "active" and mem.get(trip.id).version == 1


def test_events_and_summaries_survive_export_and_import(
    make_memory: MakeMemory, tmp_path: Any
) -> None:
    mem = make_memory(llm="scripted", extraction={"mode": "event"})
    scripted(mem).respond_with(event_reply)
    add_sessions(mem, ["s2"])
    mem.consolidate(user_id="maya")
    records = list(mem.export())
    kinds = {r.get("memory_kind") for r in records if r["kind"] == "entry"}
    assert kinds == {"fact", "event", "summary"}
    other = make_memory(tmp_path / "other", llm="scripted")
    other.import_records(json.loads(json.dumps(records)))

    def shape(m: Memory) -> set[tuple[str, str, str]]:
        return {
            (e.kind, e.text, json.dumps(e.meta, sort_keys=True)) for e in m.get_all(user_id="maya")
        }

    assert shape(other) == shape(mem)


def test_forgetting_a_fact_takes_its_session_summary_and_events_not_the_session(
    make_memory: MakeMemory,
) -> None:
    mem = make_memory(llm="scripted", extraction={"mode": "event"})
    scripted(mem).respond_with(event_reply)
    add_sessions(mem, ["s2"])
    mem.consolidate(user_id="maya")
    (summary,) = summaries(mem).values()
    turns = mem.turns(user_id="maya", session_id="s2")
    found = mem.forget("cable car", user_id="maya", dry_run=True)
    kinds = sorted(e.kind for e in found.memories)
    assert kinds == ["event", "fact", "summary"]  # the fact, its event, the summary
    assert [t.id for t in found.turns] == [turns[1].id]  # not the whole session
    mem.forget("cable car", user_id="maya", purge=True)
    left = mem.turns(user_id="maya", session_id="s2")
    assert [t.id for t in left] == [turns[0].id, turns[2].id]
    assert mem.consolidate(user_id="maya").summaries == 1  # rebuilt from what stays
    (rebuilt,) = summaries(mem).values()
    assert rebuilt.version == 1 and rebuilt.meta["turns"] == 2 and summary.meta["turns"] == 3
    assert "cable" not in rebuilt.text.lower()
    assert all("cable" not in str(r).lower() for r in mem.export())


def test_sleep_time_reads_an_owner_again_only_when_its_turns_changed(
    make_memory: MakeMemory,
) -> None:
    mem = make_memory()
    add_sessions(mem, ["s1"])
    assert mem.consolidate(user_id="maya").summaries == 1
    reads: list[object] = []
    real = mem.store.list_turns

    def spy(*args: Any, **kwargs: Any) -> Any:
        reads.append(args)
        return real(*args, **kwargs)

    mem.store.list_turns = spy  # type: ignore[method-assign]
    mem.engine.summarize(mem_scope := summaries(mem)["s1"].scope)
    assert reads == []  # nothing changed: the owner's turns are not read again
    add_sessions(mem, ["s2"])
    reads.clear()
    assert mem.engine.summarize(mem_scope).written == 1 and reads


def grow(mem: Memory, sid: str, text: str) -> None:
    mem.add(
        [{"role": "user", "speaker": "Maya", "content": text, "timestamp": DAYS[sid]}],
        user_id="maya",
        session_id=sid,
    )
    mem.flush(user_id="maya")


def test_a_summary_its_user_edited_pinned_or_deleted_stays_so(make_memory: MakeMemory) -> None:
    """Sleep time never overrides the user: an edited or pinned summary is not rewritten
    when its session grows, and a deleted one is not rebuilt until its session changes."""
    mem = make_memory()
    add_sessions(mem)
    mem.consolidate(user_id="maya")
    got = summaries(mem)
    mem.update(got["s1"].id, "Maya's cat Pixel: salmon only.", user_id="maya")
    mem.pin(got["s2"].id, user_id="maya")
    mem.delete(got["s3"].id, user_id="maya")
    assert mem.consolidate(user_id="maya").summaries == 0  # the delete stands
    assert "s3" not in summaries(mem)
    grow(mem, "s1", "Pixel also likes tuna.")
    grow(mem, "s2", "We also booked the ski school in Chamonix.")
    mem.consolidate(user_id="maya")
    now = summaries(mem)
    assert now["s1"].text == "Maya's cat Pixel: salmon only."  # the user's text stays
    assert now["s2"].pinned and now["s2"].text == got["s2"].text and now["s2"].version == 1
    assert [r.actor for r in mem.history(now["s1"].id)][-1] == "user"
    # the deleted session's summary comes back only once the session has changed
    grow(mem, "s3", "The Blue Note concert moved to Saturday.")
    assert mem.consolidate(user_id="maya").summaries == 1
    rebuilt = summaries(mem)["s3"]
    assert rebuilt.id != got["s3"].id and rebuilt.meta["turns"] == 4
