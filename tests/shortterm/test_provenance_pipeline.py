"""Verified provenance on real data: LoCoMo conv-26's annotated observations replayed as
the extraction LLM's reply, with 30% of the source numbers replaced by another turn of the
batch. The real pipeline (scripted LLM, MiniLM embedder) must re-point the shuffled links
and leave the correct ones alone. Run with ``-s`` to see the figures."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest

from lightmem import Memory
from lightmem.datasets import load_dataset
from lightmem.datasets.locomo import normalise_evidence
from lightmem.llm.base import ChatMessage
from lightmem.llm.scripted import ScriptedLLM
from tests.conftest import shared_data_dir

SAMPLE = "conv-26"
SHUFFLED = 0.3
SEED = 26
_LINE = re.compile(r"^\[(\d+)\] [^:]+: (.*)$")


def observations(sample: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """``(fact, dia_ids)`` from every ``session_N_observation``; ids normalised as the
    loader normalises evidence."""
    out = []
    for _, per_speaker in sorted(
        sample["observation"].items(), key=lambda kv: int(re.findall(r"\d+", kv[0])[0])
    ):
        for facts in per_speaker.values():
            for fact, raw in facts:
                refs: list[str] = []
                for item in raw if isinstance(raw, list) else [raw]:
                    refs += normalise_evidence(str(item))[0]
                if refs:
                    out.append((fact, list(dict.fromkeys(refs))))
    return out


class AnnotatedProvider:
    """Answers an extraction call with the batch's annotated facts and their true source
    numbers, except the links picked for shuffling, which name another turn of the batch."""

    def __init__(self, facts: list[tuple[str, list[str]]], by_text: dict[str, str]) -> None:
        self.facts = facts
        self.by_text = by_text  # the turn's text as rendered -> its dia_id
        links = [(i, ref) for i, (_, refs) in enumerate(facts) for ref in refs]
        rng = random.Random(SEED)
        self.shuffle = set(rng.sample(links, round(SHUFFLED * len(links))))
        self.rng = rng
        self.cited: dict[tuple[int, str], str] = {}  # shuffled link -> the ref sent instead

    def __call__(self, messages: list[ChatMessage], schema: Any) -> dict[str, Any]:
        numbers: dict[str, int] = {}
        for line in messages[-1].content.splitlines():
            m = _LINE.match(line)
            if m:
                numbers[self.by_text[m[2]]] = int(m[1])
        memories = []
        for i, (fact, refs) in enumerate(self.facts):
            here = [r for r in refs if r in numbers]
            if not here or here[0] != refs[0]:
                continue  # the fact belongs to the batch of its first source
            sources = []
            for ref in here:
                if (i, ref) in self.shuffle:
                    others = sorted(r for r in numbers if r not in refs)
                    wrong = self.rng.choice(others)
                    self.cited[(i, ref)] = wrong
                    sources.append(numbers[wrong])
                else:
                    sources.append(numbers[ref])
            memories.append({"text": fact, "sources": sources})
        return {"memories": memories}


def test_shuffled_sources_are_repaired_on_locomo(tmp_path: Path) -> None:
    data = shared_data_dir()
    if data is None:
        pytest.skip("shared/data/locomo-dev.json is not beside the checkout")
    raw = json.loads((data / "locomo-dev.json").read_text(encoding="utf-8"))
    sample = next(s for s in raw if s["sample_id"] == SAMPLE)
    conv = load_dataset("locomo", data / "locomo-dev.json", [SAMPLE]).conversations[0]
    facts = [(f, refs) for f, refs in observations(sample) if set(refs) <= conv.refs]
    by_text = {" ".join(t.content.split()): t.ref for t in conv.turns}
    provider = AnnotatedProvider(facts, by_text)

    mem = Memory(
        tmp_path / "store",
        config={
            "embedder": "minilm",
            "llm": "scripted",
            "buffer": {"sensory_tokens": 100_000, "shortterm_tokens": 100_000},
        },
    )
    with mem:
        llm = mem.llm
        assert isinstance(llm, ScriptedLLM)
        llm.respond_with(provider)
        for session in conv.session_ids:
            turns = [t for t in conv.turns if t.session_id == session and t.content.strip()]
            messages = [
                {"role": t.role, "speaker": t.speaker, "content": t.content, "ref": t.ref}
                for t in turns
            ]
            mem.add(messages, user_id=SAMPLE, session_id=session, timestamp=turns[0].timestamp)
            result = mem.flush(user_id=SAMPLE)  # one batch per session
            assert not result.failed_batches
        assert len(llm.calls) == len(conv.session_ids)
        ref_of = {t.id: t.ref for t in mem.turns(user_id=SAMPLE)}
        linked = {e.text: [ref_of[s] for s in e.sources] for e in mem.get_all(user_id=SAMPLE)}
        usage = mem.usage()

    shuffled = repaired = correct = changed = 0
    sources_after_repair = []
    for i, (fact, refs) in enumerate(facts):
        now = linked[fact]
        for ref in refs:
            if (i, ref) in provider.shuffle:
                shuffled += 1
                fixed = ref in now and provider.cited[(i, ref)] not in now
                repaired += fixed
                sources_after_repair += [len(now)] if fixed else []
            else:
                correct += 1
                changed += ref not in now
    repair_rate = repaired / shuffled
    false_rate = changed / correct
    print(
        f"\nprovenance on LoCoMo {SAMPLE} ({len(facts)} facts, {len(conv.session_ids)} "
        f"batches, MiniLM): {repaired}/{shuffled} shuffled links repaired "
        f"({repair_rate:.1%}), {changed}/{correct} correct links changed "
        f"({false_rate:.1%}); a repaired fact has {sum(sources_after_repair)}/"
        f"{len(sources_after_repair)} sources; stats count {usage.repaired_sources} repairs"
    )
    assert usage.repaired_sources >= repaired
    # The target is 90%; this guards the level reached (see the report in
    # docs/config.md under "Verified provenance").
    assert repair_rate >= 0.85
    assert false_rate < 0.05
