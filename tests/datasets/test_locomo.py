"""The LoCoMo loader on ``shared/data/locomo-dev.json`` (3 conversations of locomo10.json)."""

from __future__ import annotations

import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from lightmem.datasets import Dataset, load_dataset, load_locomo
from lightmem.datasets.locomo import normalise_evidence, parse_locomo_date


@pytest.fixture(scope="module")
def locomo(shared_data: Path) -> Dataset:
    return load_locomo(shared_data / "locomo-dev.json")


def test_counts(locomo: Dataset) -> None:
    assert [c.sample_id for c in locomo.conversations] == ["conv-26", "conv-30", "conv-41"]
    assert [len(c.turns) for c in locomo.conversations] == [419, 369, 663]
    assert locomo.n_turns == 1451
    assert locomo.n_questions == 497
    assert locomo.name == "locomo"
    assert len(locomo.sha256) == 64


def test_quirk_counts(locomo: Dataset) -> None:
    # Checked by hand against the raw file: 110 category-5 questions without an answer, 2
    # with both answers (conv-26 q167, q178), 6 integer answers, one "D8:6; D9:17" split in
    # two (conv-26 q37), 2 questions with empty evidence (conv-26 q30, q46), 319 turns with an
    # image caption, and conv-26 holds date keys for sessions 20-35 that have no turns.
    assert locomo.quirks == {
        "adversarial_with_answer": 2,
        "image_turns": 319,
        "integer_answer": 6,
        "malformed_evidence": 1,
        "missing_answer": 110,
        "no_evidence": 2,
        "normalised_evidence": 1,
        "orphan_session_date": 16,
    }


def test_questions(locomo: Dataset) -> None:
    conv = locomo.conversations[0]
    split = conv.questions[37]
    assert split.id == "conv-26:q37"
    assert split.evidence == ["D8:6", "D9:17"]
    assert split.extra["raw_evidence"] == ["D8:6; D9:17"]
    assert conv.questions[1].answer == "2022"  # an integer in the file
    assert [q.id for q in conv.questions if not q.evidence] == ["conv-26:q30", "conv-26:q46"]
    adversarial = [q for c in locomo.conversations for q in c.questions if q.category == "5"]
    assert len(adversarial) == 112
    assert all(q.adversarial_answer for q in adversarial)
    categories = {q.category for c in locomo.conversations for q in c.questions}
    assert categories == {"1", "2", "3", "4", "5"}
    evaluable = [
        q
        for c in locomo.conversations
        for q in c.questions
        if q.category in {"1", "2", "3", "4"} and q.evidence
    ]
    assert len(evaluable) == 383  # the README's n
    for c in locomo.conversations:
        for q in c.questions:
            assert all(re.fullmatch(r"D\d+:\d+", ref) for ref in q.evidence)
            assert set(q.evidence) <= c.refs  # no dangling ids in this subset


def test_sessions_in_numeric_order(locomo: Dataset) -> None:
    conv = locomo.conversations[2]
    numbers = [int(s.removeprefix("session_")) for s in conv.session_ids]
    assert numbers == list(range(1, 33))
    assert conv.turns[0].ref == "D1:1"
    assert conv.turns[-1].ref.startswith("D32:")
    stamps = [t.timestamp for t in conv.turns]
    assert all(stamps) and stamps == sorted(stamps)  # type: ignore[type-var]
    assert conv.turns[0].timestamp == datetime(2022, 12, 17, 11, 1)


def test_refs_unique_and_turn_fields(locomo: Dataset) -> None:
    for conv in locomo.conversations:
        refs = [t.ref for t in conv.turns]
        assert len(refs) == len(set(refs))
        assert {t.role for t in conv.turns} == {"user"}
    assert {t.speaker for t in locomo.conversations[0].turns} == {"Caroline", "Melanie"}


def test_image_captions_appended(locomo: Dataset) -> None:
    turn = locomo.conversations[0].turns[4]
    assert turn.ref == "D1:5"
    assert turn.content == (
        "The transgender stories were so inspiring! I was so happy and thankful for all the "
        "support. [shares a photo of a dog walking past a wall with a painting of a woman]"
    )
    shared = [t for c in locomo.conversations for t in c.turns if "[shares " in t.content]
    assert len(shared) == 319


def test_sample_selection(shared_data: Path) -> None:
    data = load_dataset("locomo", shared_data / "locomo-dev.json", ids=["conv-30"])
    assert [c.sample_id for c in data.conversations] == ["conv-30"]
    assert data.quirks == {"image_turns": 72, "missing_answer": 24}


def test_repairs_and_dangling_ids(tmp_path: Path) -> None:
    sample = {
        "sample_id": "s",
        "conversation": {
            "speaker_a": "A",
            "speaker_b": "B",
            "session_2_date_time": "10:00 am on 2 Sept 2023",
            "session_2": [{"speaker": "B", "dia_id": "D2:1", "text": "later"}],
            "session_1_date_time": "not a date",
            "session_1": [
                {"speaker": "A", "dia_id": "D1:1", "text": "hi"},
                {"speaker": "B", "dia_id": "D1:2", "text": "", "blip_caption": "a cat"},
            ],
        },
        "qa": [
            {"question": "q", "answer": "a", "evidence": ["D:1:2", "D"], "category": 1},
            {"question": "q", "answer": 3.5, "evidence": ["D9:9", "D1:1", "D1:1"], "category": 6},
            {"question": "q", "adversarial_answer": "x", "evidence": ["D"], "category": 5},
        ],
    }
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps([sample]), encoding="utf-8")
    data = load_locomo(path)
    conv = data.conversations[0]
    assert [t.ref for t in conv.turns] == ["D1:1", "D1:2", "D2:1"]
    assert conv.turns[0].timestamp is None
    assert conv.turns[2].timestamp == datetime(2023, 9, 2, 10, 0)
    assert conv.turns[1].content == " [shares a cat]"
    q0, q1, q2 = conv.questions
    assert q0.evidence == ["D1:2"]
    assert q1.evidence == ["D9:9", "D1:1"]  # the dangling id is kept
    assert (q1.answer, q1.category) == ("3.5", "6")
    assert (q2.answer, q2.adversarial_answer, q2.evidence) == (None, "x", [])
    assert data.quirks == {
        "dangling_evidence": 1,
        "dropped_evidence": 2,
        "duplicate_evidence": 1,
        "empty_turn": 1,
        "image_turns": 1,
        "malformed_evidence": 3,
        "missing_answer": 1,
        "no_evidence": 1,
        "non_string_answer": 1,
        "normalised_evidence": 1,
        "unknown_category": 1,
        "unparsable_session_date": 1,
    }


@pytest.mark.parametrize(
    ("raw", "ids", "leftover"),
    [
        ("D8:6; D9:17", ["D8:6", "D9:17"], False),
        ("D:11:26", ["D11:26"], False),
        ("D10:05", ["D10:5"], False),
        ("D", [], True),
        ("D3:4 see above", ["D3:4"], True),
    ],
)
def test_normalise_evidence(raw: str, ids: list[str], leftover: bool) -> None:
    assert normalise_evidence(raw) == (ids, leftover)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1:56 pm on 8 May, 2023", datetime(2023, 5, 8, 13, 56)),
        ("12:09 am on 13 September, 2023", datetime(2023, 9, 13, 0, 9)),
        ("12:30 pm on 1 June, 2023", datetime(2023, 6, 1, 12, 30)),
        ("9:05pm on 3 Sept 2023", datetime(2023, 9, 3, 21, 5)),
        ("sometime in May", None),
        ("1:56 pm on 31 February, 2023", None),
    ],
)
def test_parse_locomo_date(text: str, expected: datetime | None) -> None:
    assert parse_locomo_date(text) == expected
