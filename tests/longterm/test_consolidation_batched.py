"""Sleep time in fewer calls: several targets decided in one call apply the same decisions
as one call per target; decided targets are skipped; near-duplicates need no call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightmem.llm.scripted import ScriptedLLM
from lightmem.longterm.decisions import BATCH_UPDATE_PROMPT, pack_sizes
from tests.fakes.decide import per_target
from tests.support.memories import MakeMemory

OLD = [
    "Maya's cat Pixel eats salmon kibble.",
    "Maya plans a trip to Lisbon in October.",
    "Jonas walks his dog Bruno every morning.",
    "Maya works as a nurse at Riverside hospital.",
]
NEW = [
    "Maya's cat Pixel now eats chicken kibble instead of salmon.",
    "Maya cancelled the trip to Lisbon in October.",
    "Jonas walks his dog Bruno every morning.",  # an exact duplicate: no call
    "Maya still works as a nurse at Riverside hospital, on nights now.",
]


def decide(block: str) -> dict[str, Any]:
    if block.startswith("OLD (2024-01-01): Maya's cat"):
        return {
            "action": "update",
            "text": "Pixel eats chicken kibble (salmon until Feb 2024).",
            "reason": "diet changed",
        }
    if block.startswith("OLD (2024-01-01): Maya plans"):
        return {"action": "delete", "reason": "trip cancelled"}
    return {"action": "ignore", "reason": "unrelated"}


def build(make_memory: MakeMemory, path: Path, per_call: int) -> Any:
    mem = make_memory(
        path,
        llm="scripted",
        buffer={"sensory_tokens": 1, "max_segment_tokens": 1, "shortterm_tokens": 0},
        consolidation={"threshold": 0.3, "max_targets_per_call": per_call},
    )
    llm = mem.llm
    assert isinstance(llm, ScriptedLLM)
    for day, texts in (("2024-01-01", OLD), ("2024-02-01", NEW)):
        llm.enqueue({"memories": [{"text": t, "sources": [1]} for t in texts]})
        mem.add("what Maya and Jonas said", user_id="alice", timestamp=f"{day}T10:00:00")
        mem.flush()
    llm.respond_with(per_target(decide))
    return mem


def outcome(mem: Any) -> list[tuple[str, str, int, list[str]]]:
    entries = mem.get_all(user_id="alice", include_deleted=True)
    return sorted(
        (e.text, e.status.value, e.version, [h.event.value for h in mem.history(e.id)])
        for e in entries
    )


def update_calls(mem: Any) -> int:
    llm = mem.llm
    return sum(1 for c in llm.calls if c.messages[0].content != llm.calls[0].messages[0].content)


def test_batched_and_one_by_one_apply_the_same_decisions(
    make_memory: MakeMemory, tmp_path: Path
) -> None:
    one = build(make_memory, tmp_path / "one", per_call=1)
    many = build(make_memory, tmp_path / "many", per_call=20)
    r1, r2 = one.consolidate(user_id="alice"), many.consolidate(user_id="alice")
    assert (r1.updated, r1.deleted, r1.merged, r1.ignored, r1.failed) == (
        r2.updated,
        r2.deleted,
        r2.merged,
        r2.ignored,
        r2.failed,
    )
    assert r1.updated == 1 and r1.deleted == 1 and r1.merged == 1 and not r1.failed
    assert outcome(one) == outcome(many)
    asked = r1.updated + r1.deleted + r1.ignored  # the merge was settled by similarity
    assert update_calls(one) == asked >= 3
    assert update_calls(many) == 1
    assert any(c.messages[0].content == BATCH_UPDATE_PROMPT for c in many.llm.calls)
    # a second run finds every pair decided: no call at all
    calls = len(many.llm.calls)
    again = many.consolidate(user_id="alice")
    assert again.updated == again.deleted == again.merged == 0 and len(many.llm.calls) == calls


def test_a_reply_missing_a_target_is_asked_again(make_memory: MakeMemory, tmp_path: Path) -> None:
    mem = build(make_memory, tmp_path / "s", per_call=20)
    llm = mem.llm
    llm.enqueue({"decisions": [{"target": 1, "action": "ignore"}]})  # leaves the others out
    result = mem.consolidate(user_id="alice")
    assert not result.failed and result.updated == 1 and result.deleted == 1
    retry = llm.calls[-1].messages[-1].content
    assert "give exactly one decision for each target" in retry


def test_pack_sizes_bound_targets_and_tokens() -> None:
    assert pack_sizes([], 100, 5) == []
    assert pack_sizes([10] * 7, 1000, 3) == [3, 3, 1]
    assert pack_sizes([40, 40, 40, 200, 10], 100, 10) == [2, 1, 1, 1]
