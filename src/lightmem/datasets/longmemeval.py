"""LongMemEval (xiaowu0162/LongMemEval: ``longmemeval_s``, ``_m``, ``_oracle``): a list of
instances, each one question over its own haystack of chat sessions.

One :class:`Conversation` per instance (``sample_id`` = ``question_id``). A turn's ref is
``"{session_id}:{turn_index}"`` (0-based; the official retrieval code names the same turn
``"{session_id}_{turn_index + 1}"`` and indexes user turns only). ``Question.evidence`` holds
the refs of the turns marked ``has_answer: true`` (turn-level evidence);
``extra["answer_session_ids"]`` keeps the session-level evidence and ``extra["abstention"]``
flags the ``*_abs`` questions, which the official retrieval evaluation leaves out.

Quirks counted: ``abstention``, ``integer_answer``, ``no_evidence`` (no ``has_answer`` turn),
``answer_session_not_in_haystack``, ``duplicate_session_id`` (later copies get ``#2``, ``#3``
appended to stay distinct), ``empty_turn``, ``missing_question_date``,
``unparsable_date``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Any

from lightmem.datasets.base import (
    Conversation,
    Dataset,
    DatasetTurn,
    Question,
    StrPath,
    count,
    layout_error,
    read_json,
)
from lightmem.errors import InputError
from lightmem.timeutil import parse_timestamp

_REQUIRED = (
    "question_id",
    "question_type",
    "question",
    "answer",
    "haystack_session_ids",
    "haystack_dates",
    "haystack_sessions",
)


def load_longmemeval(path: StrPath, question_ids: Collection[str] | None = None) -> Dataset:
    """Read a LongMemEval file (all instances, or only ``question_ids``)."""
    data, digest = read_json(path, "LongMemEval")
    if not isinstance(data, list) or not data:
        raise layout_error(path, "longmemeval", "the top level must be a non-empty list", data)
    quirks: dict[str, int] = {}
    conversations = []
    for i, item in enumerate(data):
        if not isinstance(item, dict) or not set(_REQUIRED) <= set(item):
            lacking = [k for k in _REQUIRED if not isinstance(item, dict) or k not in item]
            raise layout_error(path, "longmemeval", f"item {i} lacks {', '.join(lacking)}", data)
        if question_ids is None or str(item["question_id"]) in question_ids:
            conversations.append(_instance(path, item, quirks))
    if question_ids is not None:
        missing = set(question_ids) - {conv.sample_id for conv in conversations}
        if missing:
            raise InputError(f"{path}: no question with id {', '.join(sorted(missing))}")
    return Dataset(
        "longmemeval", str(Path(path)), digest, conversations, dict(sorted(quirks.items()))
    )


def is_abstention(question_id: str) -> bool:
    """LongMemEval marks questions whose answer is not in the haystack with ``_abs``."""
    return question_id.endswith("_abs")


def _instance(path: StrPath, item: dict[str, Any], quirks: dict[str, int]) -> Conversation:
    qid = str(item["question_id"])
    session_ids, dates, sessions = (
        item["haystack_session_ids"],
        item["haystack_dates"],
        item["haystack_sessions"],
    )
    if not all(isinstance(x, list) for x in (session_ids, dates, sessions)) or not (
        len(session_ids) == len(dates) == len(sessions)
    ):
        raise layout_error(
            path,
            "longmemeval",
            f"question {qid}: haystack_session_ids, haystack_dates and haystack_sessions "
            "must be lists of the same length",
        )

    turns: list[DatasetTurn] = []
    seen: dict[str, int] = {}
    for sid, date, session in zip(session_ids, dates, sessions, strict=True):
        sid = str(sid)
        seen[sid] = seen.get(sid, 0) + 1
        if seen[sid] > 1:
            count(quirks, "duplicate_session_id")
            sid = f"{sid}#{seen[sid]}"
        when = _date(date, quirks)
        if not isinstance(session, list):
            raise layout_error(path, "longmemeval", f"question {qid}: session {sid} is no list")
        for j, raw in enumerate(session):
            if not isinstance(raw, dict) or not isinstance(raw.get("role"), str):
                raise layout_error(
                    path, "longmemeval", f"question {qid} session {sid} turn {j} has no 'role'"
                )
            content = raw.get("content")
            if not isinstance(content, str):
                raise layout_error(
                    path, "longmemeval", f"question {qid} session {sid} turn {j}: bad 'content'"
                )
            if not content.strip():
                count(quirks, "empty_turn")
            role = raw["role"]
            has_answer = raw.get("has_answer") is True
            turns.append(DatasetTurn(f"{sid}:{j}", sid, role, role, content, when, has_answer))

    answer = item["answer"]
    if not isinstance(answer, str):
        count(quirks, "integer_answer" if isinstance(answer, int) else "non_string_answer")
        answer = str(answer)
    abstention = is_abstention(qid)
    count(quirks, "abstention", 1 if abstention else 0)
    evidence = [turn.ref for turn in turns if turn.has_answer]
    count(quirks, "no_evidence", 0 if evidence else 1)
    answer_sessions = [str(s) for s in item.get("answer_session_ids") or []]
    haystack = {str(s) for s in session_ids}
    count(quirks, "answer_session_not_in_haystack", sum(s not in haystack for s in answer_sessions))

    question_date = None
    if item.get("question_date") is None:
        count(quirks, "missing_question_date")
    else:
        question_date = _date(item["question_date"], quirks)
    question = Question(
        id=qid,
        question=str(item["question"]),
        answer=answer,
        category=str(item["question_type"]),
        evidence=evidence,
        question_date=question_date,
        extra={"answer_session_ids": answer_sessions, "abstention": abstention},
    )
    return Conversation(qid, turns, [question])


def _date(value: Any, quirks: dict[str, int]) -> datetime | None:
    try:
        return parse_timestamp(value)
    except InputError:
        count(quirks, "unparsable_date")
        return None
