"""The LongMemEval loader on ``shared/data/longmemeval-single.json`` (question e47becba)."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from lightmem.datasets import Dataset, load_dataset, load_longmemeval


@pytest.fixture(scope="module")
def single(shared_data: Path) -> Dataset:
    return load_longmemeval(shared_data / "longmemeval-single.json")


def test_counts(single: Dataset, shared_data: Path) -> None:
    (conv,) = single.conversations
    assert conv.sample_id == "e47becba"
    assert len(conv.turns) == 550
    assert len(conv.session_ids) == 53
    assert single.quirks == {}
    # 12 turns carry a has_answer key (the README's figure); only 2 of them say true.
    raw = json.loads((shared_data / "longmemeval-single.json").read_text(encoding="utf-8"))
    flagged = [t for s in raw[0]["haystack_sessions"] for t in s if "has_answer" in t]
    assert len(flagged) == 12
    assert [t.ref for t in conv.turns if t.has_answer] == [
        "answer_280352e9:4",
        "answer_280352e9:5",
    ]


def test_question(single: Dataset) -> None:
    (conv,) = single.conversations
    (q,) = conv.questions
    assert q.id == "e47becba"
    assert q.category == "single-session-user"
    assert q.answer == "Business Administration"
    assert q.question_date == datetime(2023, 5, 30, 23, 40)
    assert q.extra == {"answer_session_ids": ["answer_280352e9"], "abstention": False}
    assert q.evidence and set(q.evidence) <= conv.refs
    assert {conv.turns[0].ref.rsplit(":", 1)[0]} <= set(conv.session_ids)


def test_turns(single: Dataset) -> None:
    conv = single.conversations[0]
    first = conv.turns[0]
    assert first.ref == "sharegpt_yywfIrx_0:0"
    assert first.session_id == "sharegpt_yywfIrx_0"
    assert first.timestamp == datetime(2023, 5, 20, 2, 21)
    assert {t.role for t in conv.turns} == {"user", "assistant"}
    assert all(t.speaker == t.role for t in conv.turns)
    refs = [t.ref for t in conv.turns]
    assert len(refs) == len(set(refs))


def _instance(qid: str, **changes: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "question_id": qid,
        "question_type": "multi-session",
        "question": "How many?",
        "answer": 3,
        "question_date": "2023/05/30 (Tue) 23:40",
        "haystack_session_ids": ["s1", "s1", "answer_x"],
        "haystack_dates": ["2023/05/20 (Sat) 02:21", "yesterday", "2023/05/21 (Sun) 10:00"],
        "haystack_sessions": [
            [{"role": "user", "content": "a"}, {"role": "assistant", "content": " "}],
            [{"role": "user", "content": "b"}],
            [{"role": "user", "content": "c", "has_answer": True}],
        ],
        "answer_session_ids": ["answer_x", "answer_gone"],
    }
    item.update(changes)
    return item


def test_quirks_and_abstention(tmp_path: Path) -> None:
    path = tmp_path / "lme.json"
    items = [
        _instance("q1"),
        _instance("q2_abs", haystack_sessions=[[], [], [{"role": "user", "content": "c"}]]),
    ]
    path.write_text(json.dumps(items), encoding="utf-8")
    data = load_dataset("longmemeval", path)
    first, second = data.conversations
    assert [t.ref for t in first.turns] == ["s1:0", "s1:1", "s1#2:0", "answer_x:0"]
    assert first.turns[2].timestamp is None
    assert first.questions[0].answer == "3"
    assert first.questions[0].evidence == ["answer_x:0"]
    assert second.questions[0].extra["abstention"] is True
    assert second.questions[0].evidence == []
    assert data.quirks == {
        "abstention": 1,
        "answer_session_not_in_haystack": 2,
        "duplicate_session_id": 2,
        "empty_turn": 1,
        "integer_answer": 2,
        "no_evidence": 1,
        "unparsable_date": 2,
    }
    only = load_longmemeval(path, question_ids=["q2_abs"])
    assert [c.sample_id for c in only.conversations] == ["q2_abs"]
