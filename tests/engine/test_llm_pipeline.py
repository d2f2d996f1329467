"""The engine with the scripted LLM: batching, provenance, failures, consolidation."""

from __future__ import annotations

from typing import Any

from lightmem.errors import ProviderError
from lightmem.llm.scripted import ScriptedLLM
from lightmem.types import EntryStatus, TurnStage
from tests.fakes.decide import per_target
from tests.support.memories import MakeMemory, conversation


def scripted(mem: Any) -> ScriptedLLM:
    assert isinstance(mem.llm, ScriptedLLM)
    return mem.llm


def test_one_extraction_call_per_batch(make_memory: MakeMemory) -> None:
    mem = make_memory(
        llm="scripted", buffer={"sensory_tokens": 100_000, "shortterm_tokens": 100_000}
    )
    sessions = conversation(n_sessions=2, turns_per_session=4)
    for i, s in enumerate(sessions):
        mem.add(s, user_id="alice", session_id=f"s{i}", timestamp=f"2024-03-0{i + 1}T09:00:00")
    llm = scripted(mem)
    llm.enqueue(
        {
            "memories": [
                {
                    "text": "Maya's cat Pixel only eats salmon flavoured kibble.",
                    "sources": [1],
                    "keywords": ["Pixel", "cat"],
                },
                {"text": "Maya started a job as a nurse at Riverside hospital.", "sources": [3, 4]},
                {"text": "Jonas has a dog called Bruno.", "sources": [2, 99]},
            ]
        }
    )
    result = mem.flush(user_id="alice")
    assert result.entries_created == 3 and result.batches_done == 1
    assert len(llm.calls) == 1  # both sessions, ONE call
    prompt = llm.calls[0]["messages"][-1].content if isinstance(llm.calls[0], dict) else None
    if prompt is not None:
        assert "[8] Jonas:" in prompt and "2024-03-02" in prompt
    usage = mem.usage()
    assert usage.stages["extraction"].calls == 1
    assert usage.stages["extraction"].tokens_in > 0
    assert usage.invalid_sources == 1
    turns = mem.turns(user_id="alice")
    entries = {e.text: e for e in mem.get_all(user_id="alice")}
    pixel = entries["Maya's cat Pixel only eats salmon flavoured kibble."]
    assert pixel.sources == [turns[0].id] and pixel.keywords == ["Pixel", "cat"]
    nurse = entries["Maya started a job as a nurse at Riverside hospital."]
    # [4] (Jonas: "Congrats on the nursing job ...") barely supports it: the link is dropped
    assert nurse.sources == [turns[2].id]
    assert usage.repaired_sources == 1
    assert entries["Jonas has a dog called Bruno."].sources == [turns[1].id]
    assert all(t.stage == TurnStage.EXTRACTED for t in turns)
    hit = mem.search("What does Pixel eat?", user_id="alice")[0]
    assert hit.id == pixel.id and hit.sources[0].content == turns[0].content


def test_threshold_batches_by_tokens(make_memory: MakeMemory) -> None:
    mem = make_memory(
        llm="scripted", buffer={"sensory_tokens": 1, "max_segment_tokens": 1, "shortterm_tokens": 0}
    )
    llm = scripted(mem)
    llm.enqueue({"memories": []}, {"memories": []}, {"memories": []}, {"memories": []})
    for i, s in enumerate(conversation(n_sessions=2, turns_per_session=2)):
        mem.add(s, user_id="alice", session_id=f"s{i}")
    mem.flush(user_id="alice")
    # th=0: every segment is extracted on its own; sessions always cut segments
    assert len(llm.calls) >= 2
    assert mem.usage().stages["extraction"].calls == len(llm.calls)


def test_failed_extraction_is_kept_and_retried(make_memory: MakeMemory) -> None:
    mem = make_memory(
        llm="scripted",
        extraction={"max_retries": 1},
        buffer={"sensory_tokens": 100_000, "shortterm_tokens": 100_000},
    )
    mem.add(conversation(1, 2)[0], user_id="alice", session_id="s1")
    llm = scripted(mem)
    llm.enqueue("this is not json", '{"memories": [{"text": 5}')
    first = mem.flush(user_id="alice")
    assert first.entries_created == 0 and len(first.failed_batches) == 1
    usage = mem.usage()
    assert usage.failed_batches == 1
    assert usage.stages["extraction"].calls == 2
    assert usage.stages["extraction"].failed_calls == 2
    (batch,) = mem.store.list_batches(statuses=("failed",))
    assert batch.raw_reply == '{"memories": [{"text": 5}' and batch.attempts == 1
    assert all(t.stage == TurnStage.BATCHED for t in mem.turns(user_id="alice"))
    # the next flush retries the same batch and succeeds; nothing was lost
    llm.enqueue({"memories": [{"text": "Maya's cat Pixel eats salmon kibble.", "sources": [1]}]})
    second = mem.flush(user_id="alice")
    assert second.entries_created == 1
    assert mem.usage().failed_batches == 0
    assert all(t.stage == TurnStage.EXTRACTED for t in mem.turns(user_id="alice"))


def test_provider_error_keeps_batch(make_memory: MakeMemory) -> None:
    from lightmem.errors import ProviderError

    mem = make_memory(llm="scripted", buffer={"sensory_tokens": 100_000})
    mem.add("I moved to Porto", user_id="alice")
    scripted(mem).enqueue(ProviderError("endpoint down"))
    assert mem.flush().failed_batches
    assert mem.usage().failed_batches == 1
    assert mem.turns(user_id="alice")[0].content == "I moved to Porto"


def test_consolidation_updates_deletes_and_records_history(make_memory: MakeMemory) -> None:
    mem = make_memory(
        llm="scripted",
        buffer={"sensory_tokens": 1, "max_segment_tokens": 1, "shortterm_tokens": 0},
        consolidation={"threshold": 0.3, "workers": 2},
    )
    llm = scripted(mem)
    llm.enqueue(
        {
            "memories": [
                {"text": "Maya's cat Pixel eats salmon kibble.", "sources": [1]},
                {"text": "Maya plans a trip to Lisbon in October.", "sources": [1]},
            ]
        }
    )
    mem.add(
        {"role": "user", "name": "Maya", "content": "Pixel eats salmon; Lisbon trip soon"},
        user_id="alice",
        session_id="s1",
        timestamp="2024-01-01T10:00:00",
    )
    mem.flush()
    llm.enqueue(
        {
            "memories": [
                {
                    "text": "Maya's cat Pixel now eats chicken kibble instead of salmon.",
                    "sources": [1],
                },
                {"text": "Maya cancelled the trip to Lisbon in October.", "sources": [1]},
            ]
        }
    )
    mem.add(
        {"role": "user", "name": "Maya", "content": "Pixel switched to chicken; trip off"},
        user_id="alice",
        session_id="s2",
        timestamp="2024-02-01T10:00:00",
    )
    mem.flush()
    old = {e.text: e for e in mem.get_all(user_id="alice")}
    cat_old = old["Maya's cat Pixel eats salmon kibble."]
    trip_old = old["Maya plans a trip to Lisbon in October."]
    vec_before = mem.store.entry_vectors([cat_old.id])[cat_old.id].copy()

    def decide(text: str) -> dict[str, Any]:
        if text.startswith("OLD (2024-01-01): Maya's cat"):
            return {
                "action": "update",
                "reason": "diet changed",
                "text": "Maya's cat Pixel eats chicken kibble (salmon until Feb 2024).",
            }
        if text.startswith("OLD (2024-01-01): Maya plans"):
            return {"action": "delete", "reason": "trip cancelled"}
        return {"action": "ignore", "reason": "unrelated"}

    llm.respond_with(per_target(decide))
    result = mem.consolidate(user_id="alice")
    assert result.updated == 1 and result.deleted == 1 and not result.failed
    cat = mem.get(cat_old.id)
    assert cat.text == "Maya's cat Pixel eats chicken kibble (salmon until Feb 2024)."
    assert cat.version == 2
    vec_after = mem.store.entry_vectors([cat_old.id])[cat_old.id]
    assert not (vec_after == vec_before).all()  # re-embedded
    assert mem.get(trip_old.id).status == EntryStatus.DELETED
    hist = mem.history(cat_old.id)
    assert [h.event.value for h in hist] == ["ADD", "UPDATE"]
    assert hist[1].old_text == "Maya's cat Pixel eats salmon kibble."
    assert hist[1].reason == "diet changed"
    assert [h.event.value for h in mem.history(trip_old.id)] == ["ADD", "DELETE"]
    calls = mem.usage().stages["consolidation"].calls
    # a second run decides nothing again
    again = mem.consolidate(user_id="alice")
    assert again.updated == again.deleted == 0
    assert mem.usage().stages["consolidation"].calls == calls


def test_failed_consolidation_stays_queued(make_memory: MakeMemory) -> None:
    mem = make_memory(
        llm="scripted",
        buffer={"sensory_tokens": 1, "max_segment_tokens": 1, "shortterm_tokens": 0},
        consolidation={"threshold": 0.3},
        extraction={"max_retries": 0},
    )
    llm = scripted(mem)
    llm.enqueue({"memories": [{"text": "Maya's cat Pixel eats salmon.", "sources": [1]}]})
    mem.add("Pixel eats salmon", user_id="alice", timestamp="2024-01-01T00:00:00")
    llm.enqueue({"memories": [{"text": "Maya's cat Pixel eats salmon and tuna.", "sources": [1]}]})
    mem.add("Pixel eats tuna too", user_id="alice", timestamp="2024-01-02T00:00:00")
    mem.flush()
    llm.enqueue("garbage")
    first = mem.consolidate(user_id="alice")
    assert len(first.failed) == 1
    (failure,) = mem.usage().failures  # why, for people (and the log)
    assert failure.where == "consolidation" and failure.ref == first.failed[0]
    assert "no valid update decision (JSON)" in failure.message
    # a provider that echoes the prompt: the memories' text is removed from the message
    llm.enqueue(ProviderError("endpoint said: OLD (2024-01-01): Maya's cat Pixel eats salmon."))
    assert mem.consolidate(user_id="alice").failed == first.failed
    newest = mem.usage().failures[0]
    assert newest.message.startswith("ExtractionError") and "endpoint said" in newest.message
    assert "Pixel" not in newest.message and "salmon" not in newest.message
    llm.enqueue({"action": "ignore", "reason": "still true"})
    second = mem.consolidate(user_id="alice")
    assert second.ignored == 1 and not second.failed
    assert mem.store.consolidation_queue() == []
