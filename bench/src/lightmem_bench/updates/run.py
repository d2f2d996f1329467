"""Facts that change, in a long chat: does memory put the current one first?

The layout of ``shared/checks/knowledge_update_probe.py``, so the figures compare: one user
(Sam, talking with Jo) over 12 weekly sessions of 40 messages of real chat (the filler: the
session turns of a LoCoMo-layout file's first three samples, in order); each case's old
statement is said in one of sessions 2-4, its update in one of sessions 8-11; then sleep
time (flush and consolidate) and, per case, the question about now asked of ``search`` (top
5) and ``context`` (500 tokens). A case names the old and the new fact by a key each (a
lower-case substring of the statement).

Beside what the questions find, what sleep time decided: whether the old statement was
marked replaced by the update (a *right link*), and how many filler memories were marked
replaced by other filler (*filler links*: the real chats hold few real changes, so these are
mostly false ones: the rule's precision)."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from lightmem import Memory
from lightmem.errors import InputError
from lightmem.types import Entry

SESSIONS = 12
PER_SESSION = 40
START = datetime(2024, 1, 1, 9, 0)
USER, OTHER = "Sam", "Jo"
TOP = 5
BUDGET = 500


@dataclass(frozen=True, slots=True)
class Case:
    old: str
    new: str
    question: str
    old_key: str
    new_key: str


def load_cases(path: Path) -> list[Case]:
    """A JSON list of ``[old, new, question, old key, new key]``."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the cases file {str(path)!r}: {exc}") from exc
    if not isinstance(raw, list):
        raise InputError(f"{str(path)!r}: expected a JSON list of cases")
    cases = []
    for n, item in enumerate(raw):
        strings = isinstance(item, list) and all(isinstance(x, str) for x in item)
        if not (strings and len(item) == 5):
            raise InputError(
                f"{str(path)!r} case {n}: expected [old, new, question, old key, new key] "
                "(five strings)"
            )
        case = Case(*item)
        for key, said in ((case.old_key, case.old), (case.new_key, case.new)):
            if not key or key != key.lower() or key not in said.lower():
                raise InputError(
                    f"{str(path)!r} case {n}: the key {key!r} must be a lower-case part of "
                    f"its statement {said!r}"
                )
        cases.append(case)
    if not cases:
        raise InputError(f"{str(path)!r} holds no case")
    return cases


def load_filler(path: Path) -> list[str]:
    """The session turns' texts of the first three samples of a LoCoMo-layout file."""
    try:
        samples = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the filler file {str(path)!r}: {exc}") from exc
    try:
        texts = [
            str(t["text"])
            for s in samples[:3]
            for k, v in s["conversation"].items()
            if k.startswith("session_") and isinstance(v, list)
            for t in v
            if str(t.get("text", "")).strip()
        ]
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputError(
            f"{str(path)!r} is not in LoCoMo's layout (a list of samples, each with a "
            f"'conversation' of 'session_N' lists of turns with a 'text'): {exc!r}"
        ) from exc
    if not texts:
        raise InputError(f"{str(path)!r} holds no session turns (a LoCoMo-layout file?)")
    return texts


def conversation(cases: list[Case], filler: list[str]) -> list[list[dict[str, Any]]]:
    """The sessions' messages: filler, and each case's two statements in their sessions."""
    sessions, fi = [], 0
    for s in range(SESSIONS):
        t0 = START + timedelta(days=7 * s)
        msgs: list[dict[str, Any]] = []
        for j in range(PER_SESSION):
            text = filler[fi % len(filler)]
            fi += 1
            mine = j % 2 == 0
            msgs.append(_message(text, USER if mine else OTHER, t0 + timedelta(minutes=j)))
        for c, case in enumerate(cases):
            if s == 1 + c % 3:
                at = t0 + timedelta(minutes=10 + c % 20, seconds=30)
                msgs.insert(10 + c % 20, _message(case.old, USER, at))
            if s == 7 + c % 4:
                at = t0 + timedelta(minutes=12 + c % 20, seconds=30)
                msgs.insert(12 + c % 20, _message(case.new, USER, at))
        sessions.append(msgs)
    return sessions


def _message(text: str, who: str, at: datetime) -> dict[str, Any]:
    role = "user" if who == USER else "assistant"
    return {"role": role, "name": who, "content": text, "timestamp": at.isoformat()}


def measure(
    cases: list[Case],
    filler: list[str],
    config: dict[str, Any],
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """One store: the conversation added, sleep time, then each case asked."""
    with tempfile.TemporaryDirectory() as tmp, Memory(Path(tmp) / "store", config=config) as mem:
        for n, msgs in enumerate(conversation(cases, filler)):
            mem.add(msgs, user_id=USER.lower(), session_id=f"s{n + 1}")
        mem.flush(user_id=USER.lower())
        mem.consolidate(user_id=USER.lower())
        if progress:
            progress(f"{len(cases)} cases: stored and consolidated; asking")
        memories = mem.get_all(user_id=USER.lower())
        # the links are read off the memories that hold each statement's text: with an LLM
        # extraction rewrites them, and they are not measured
        turns = mem.llm_mode == "none"
        by_id = {e.id: e for e in memories} if turns else None
        rows = [_case(mem, memories, by_id, case) for case in cases]
        links = None
        if turns:
            right = sum(bool(r["linked"]) for r in rows)
            links = {"right": right, "filler": _filler_links(memories, by_id or {}, cases)}
        return {
            "n": len(cases),
            "llm_mode": mem.llm_mode,
            "search": _search_totals(rows),
            "context": _context_totals(rows),
            "links": links,
            "per_case": rows,
        }


def _case(
    mem: Memory, memories: list[Entry], by_id: dict[str, Entry] | None, case: Case
) -> dict[str, Any]:
    """One case asked; ``by_id`` (the memories by id; None with an LLM) for its link."""
    hits = [h.text.lower() for h in mem.search(case.question, user_id="sam", limit=TOP)]
    i_new = next((i for i, t in enumerate(hits) if case.new_key in t), None)
    i_old = next(
        (i for i, t in enumerate(hits) if case.old_key in t and case.new_key not in t), None
    )
    block = mem.context(case.question, user_id="sam", budget_tokens=BUDGET).text.lower()
    has_new, has_old = case.new_key in block, case.old_key in block
    return {
        "new_key": case.new_key,
        "linked": None if by_id is None else _linked(memories, by_id, case),
        "search_new_rank": i_new,
        "search_old_rank": i_old,
        "current_first": i_new is not None and (i_old is None or i_new < i_old),
        "stale_only": i_new is None and i_old is not None,
        "context_current": has_new,
        "context_stale_only": has_old and not has_new,
        # the probe's test: the old fact is either absent or the block says it was replaced
        "context_current_unmarked_stale_free": has_new and (not has_old or "supersede" in block),
    }


def _linked(memories: list[Entry], by_id: dict[str, Entry], case: Case) -> bool:
    """Whether sleep time marked the old statement replaced by the update."""
    old = next((e for e in memories if e.text.endswith(case.old)), None)
    if old is None or old.superseded_by is None:
        return False
    successor = by_id.get(old.superseded_by)
    return successor is not None and successor.text.endswith(case.new)


def _filler_links(memories: list[Entry], by_id: dict[str, Entry], cases: list[Case]) -> int:
    """Memories marked replaced where neither side is a case's statement."""
    said = {c.old for c in cases} | {c.new for c in cases}

    def of_case(e: Entry | None) -> bool:
        return e is not None and any(e.text.endswith(s) for s in said)

    return sum(
        1
        for e in memories
        if e.superseded_by is not None
        and not of_case(e)
        and not of_case(by_id.get(e.superseded_by))
    )


def _search_totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "current_first": sum(r["current_first"] for r in rows),
        "current_present": sum(r["search_new_rank"] is not None for r in rows),
        "stale_only": sum(r["stale_only"] for r in rows),
    }


def _context_totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    return {
        "current_present": sum(r["context_current"] for r in rows),
        "stale_only": sum(r["context_stale_only"] for r in rows),
        "current_without_unmarked_stale": sum(
            r["context_current_unmarked_stale_free"] for r in rows
        ),
    }
