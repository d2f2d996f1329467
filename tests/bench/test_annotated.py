"""``llm.annotated``: LoCoMo's observation facts answer extraction through the real pipeline."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lightmem import Memory
from lightmem.errors import ConfigError, ProviderError
from lightmem.llm.base import ChatMessage
from lightmem_bench.annotated import LABEL, AnnotatedLLM, AnnotatedOptions

from .conftest import locomo_sample

OBSERVATION = {
    "session_1_observation": {
        "Maya": [
            ["Maya's cat Pixel only eats salmon flavoured kibble.", "D1:1"],
            ["Maya started working as a nurse at Riverside hospital.", ["D1:3", "D:1:4"]],
            ["A fact about nothing.", "D9:99"],
        ],
        "Jonas": [["Jonas has a dog named Bruno.", "D1:2"]],
    },
    "session_2_observation": {
        "Maya": [["Maya takes pottery classes on Thursday evenings.", "D2:3"]],
        "Jonas": [],
    },
}


@pytest.fixture
def annotated_file(tmp_path: Path) -> Path:
    samples: list[dict[str, Any]] = []
    for sid in ("s1", "s2"):
        sample = locomo_sample(sid)
        sample["observation"] = OBSERVATION
        samples.append(sample)
    path = tmp_path / "annotated.json"
    path.write_text(json.dumps(samples), encoding="utf-8")
    return path


def test_pipeline_stores_the_annotated_facts_with_their_turns(
    annotated_file: Path, tmp_path: Path
) -> None:
    config = {
        "llm": {"provider": "annotated", "options": {"data": str(annotated_file)}},
        "embedder": {"provider": "hash", "options": {"dim": 64}},
        "buffer": {"shortterm_tokens": 0},
    }
    with Memory(tmp_path / "m", config=config) as mem:
        assert mem.llm_mode == "annotated" and "oracle proxy" in mem.describe_llm()
        sample = locomo_sample("s2")
        for key in ("session_1", "session_2"):
            turns = sample["conversation"][key]
            messages = [
                {"role": "user", "speaker": t["speaker"], "content": t["text"], "ref": t["dia_id"]}
                for t in turns
            ]
            mem.add(messages, user_id="s2", session_id=key, timestamp="2023-05-08T13:56:00")
        mem.flush(user_id="s2")
        facts = {e.text: e for e in mem.get_all(user_id="s2")}
        refs = {t.id: t.ref for t in mem.turns(user_id="s2")}
        assert set(facts) == {
            "Maya's cat Pixel only eats salmon flavoured kibble.",
            "Maya started working as a nurse at Riverside hospital.",
            "Jonas has a dog named Bruno.",
            "Maya takes pottery classes on Thursday evenings.",
        }
        nurse = facts["Maya started working as a nurse at Riverside hospital."]
        # the annotation cites D1:3 and "D:1:4" (normalised); provenance checks may drop the
        # weakly supporting D1:4 ("Congrats on the nursing job...") but keep the evidence
        assert "D1:3" in [refs[t] for t in nurse.sources]
        assert mem.usage().stages["extraction"].calls >= 1
        result = mem.consolidate(user_id="s2")
        assert not result.failed and result.updated == 0 and result.deleted == 0


def test_malformed_evidence_is_normalised(annotated_file: Path) -> None:
    from lightmem_bench.annotated import load_annotations

    ann = load_annotations(annotated_file)
    nurse = ann.facts["s1"]["D1:3"][0]
    assert nurse.evidence == ["D1:3", "D1:4"]
    assert ann.unanchored_facts == 2 and ann.dropped_evidence == 2  # "D9:99" in both samples


def test_other_calls_and_missing_data_are_clear_errors(annotated_file: Path) -> None:
    llm = AnnotatedLLM(AnnotatedOptions(data=str(annotated_file)))
    with pytest.raises(ProviderError, match="extraction and sleep-time update calls only"):
        llm.complete([ChatMessage(role="user", content="Answer the question: who?")])
    with pytest.raises(ConfigError, match=r"llm\.options\.data"):
        AnnotatedLLM(AnnotatedOptions()).annotations  # noqa: B018


def test_bench_flag_labels_the_run(annotated_file: Path, run_bench: Any, tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    run_bench(
        "retrieval --dataset locomo --llm annotated --embedder hash --data",
        str(annotated_file),
        "--json",
        str(out),
    )
    result = json.loads(out.read_text("utf-8"))
    assert result["llm"] == LABEL
    overall = result["systems"]["lightmem"]["retrieval"]["by_category"]["overall"]
    assert overall["hit@500tok"] > 0
