"""LoCoMo (snap-research/LoCoMo, ``data/locomo10.json``): a list of samples with
``sample_id``, ``conversation`` (``speaker_a``, ``speaker_b``, ``session_N`` turn lists and
``session_N_date_time`` strings) and ``qa``.

Turns become ``DatasetTurn(ref=dia_id, speaker=name, role="user")``; a turn that shares an
image gets `` [shares {blip_caption}]`` appended to its text and keeps the image (``img_url``,
the caption) in ``images``. Sessions are read as
``session_1..N`` by number: the file also holds date keys for sessions that do not exist.
Question categories are kept as the strings ``"1"``..``"5"`` (1 multi-hop, 2 temporal,
3 open-domain, 4 single-hop, 5 adversarial).

Quirks counted (never fixed silently): ``missing_answer``, ``integer_answer``,
``adversarial_with_answer``, ``unknown_category``, ``malformed_evidence`` (an evidence
string not of the form ``D<session>:<turn>``), ``normalised_evidence`` (a malformed one
that was split or repaired: ``"D8:6; D9:17"``, ``"D:11:26"``), ``dropped_evidence`` (an
unrecoverable one such as ``"D"``), ``duplicate_evidence``, ``dangling_evidence`` (an id no
turn has; kept, so a metric counts it as unretrievable), ``no_evidence``, ``image_turns``,
``empty_turn``, ``duplicate_ref``, ``orphan_session_date``, ``missing_session_date``,
``unparsable_session_date``.
"""

from __future__ import annotations

import re
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
from lightmem.types import ImageRef

_SESSION = re.compile(r"session_(\d+)")
_SESSION_DATE = re.compile(r"session_(\d+)_date_time")
_EVIDENCE = re.compile(r"D(\d+):(\d+)")
# What a damaged id can still look like: "D:11:26", "D 3:4", "D10:05".
_LOOSE_EVIDENCE = re.compile(r"D\s*:?\s*(\d+)\s*:\s*(\d+)")
_CATEGORIES = {"1", "2", "3", "4", "5"}
# "1:56 pm on 8 May, 2023" and its near misses ("8 Sept 2023", "1:56pm on 8 May 2023").
_LOCOMO_DATE = re.compile(
    r"(\d{1,2}):(\d{2})\s*([ap])\.?\s*m\.?\s+on\s+(\d{1,2})\s+([A-Za-z]+)\.?,?\s+(\d{4})",
    re.IGNORECASE,
)
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def load_locomo(path: StrPath, sample_ids: Collection[str] | None = None) -> Dataset:
    """Read a LoCoMo file (all samples, or only ``sample_ids``)."""
    data, digest = read_json(path, "LoCoMo")
    if not isinstance(data, list) or not data:
        raise layout_error(path, "locomo", "the top level must be a non-empty list", data)
    quirks: dict[str, int] = {}
    conversations = []
    for i, sample in enumerate(data):
        if not isinstance(sample, dict) or not {"sample_id", "conversation", "qa"} <= set(sample):
            raise layout_error(
                path, "locomo", f"item {i} lacks 'sample_id', 'conversation' or 'qa'", data
            )
        sample_id = str(sample["sample_id"])
        if sample_ids is None or sample_id in sample_ids:
            conversations.append(_conversation(path, sample_id, sample, quirks))
    if sample_ids is not None:
        missing = set(sample_ids) - {conv.sample_id for conv in conversations}
        if missing:
            known = ", ".join(str(s.get("sample_id")) for s in data)
            raise InputError(
                f"{path}: no sample with id {', '.join(sorted(missing))}; the file has: {known}"
            )
    return Dataset("locomo", str(Path(path)), digest, conversations, dict(sorted(quirks.items())))


def parse_locomo_date(text: str) -> datetime | None:
    """``"1:56 pm on 8 May, 2023"`` -> ``datetime(2023, 5, 8, 13, 56)``; ``None`` if unparsable."""
    try:
        return parse_timestamp(text)
    except InputError:
        pass
    m = _LOCOMO_DATE.fullmatch(text.strip())
    if m is None or m[5][:3].lower() not in _MONTHS:
        return None
    hour = int(m[1]) % 12 + (12 if m[3].lower() == "p" else 0)
    try:
        month = _MONTHS.index(m[5][:3].lower()) + 1
        return datetime(int(m[6]), month, int(m[4]), hour, int(m[2]))
    except ValueError:
        return None


def normalise_evidence(item: str) -> tuple[list[str], bool]:
    """Canonical ``D<n>:<m>`` ids found in one evidence string, and whether any text was
    left over that is not an id (``"D8:6; D9:17"`` -> two ids; ``"D"`` -> none, left over)."""
    ids = [f"D{int(m[1])}:{int(m[2])}" for m in _LOOSE_EVIDENCE.finditer(item)]
    leftover = _LOOSE_EVIDENCE.sub(" ", item).strip(" \t;,")
    return ids, bool(leftover)


def _is_canonical(item: str) -> bool:
    m = _EVIDENCE.fullmatch(item)
    return m is not None and item == f"D{int(m[1])}:{int(m[2])}"


def _conversation(
    path: StrPath, sample_id: str, sample: dict[str, Any], quirks: dict[str, int]
) -> Conversation:
    conv = sample["conversation"]
    qa = sample["qa"]
    if not isinstance(conv, dict) or not isinstance(qa, list):
        raise layout_error(
            path, "locomo", f"sample {sample_id}: 'conversation' must be an object, 'qa' a list"
        )
    sessions = sorted(
        (int(m[1]), key) for key in conv if (m := _SESSION.fullmatch(key)) is not None
    )
    if not sessions:
        raise layout_error(path, "locomo", f"sample {sample_id} has no 'session_N' turn lists")
    numbers = {n for n, _ in sessions}
    for key in conv:
        if (m := _SESSION_DATE.fullmatch(key)) is not None and int(m[1]) not in numbers:
            count(quirks, "orphan_session_date")

    turns: list[DatasetTurn] = []
    seen: set[str] = set()
    for _, key in sessions:
        when = _session_date(conv.get(f"{key}_date_time"), quirks)
        if not isinstance(conv[key], list):
            raise layout_error(path, "locomo", f"sample {sample_id}: {key} must be a list")
        for j, raw in enumerate(conv[key]):
            turn = _turn(path, f"sample {sample_id} {key} turn {j}", raw, key, when, quirks)
            if turn.ref in seen:
                count(quirks, "duplicate_ref")
            seen.add(turn.ref)
            turns.append(turn)

    questions = [_question(path, sample_id, i, raw, seen, quirks) for i, raw in enumerate(qa)]
    return Conversation(sample_id, turns, questions)


def _session_date(value: Any, quirks: dict[str, int]) -> datetime | None:
    if value is None:
        count(quirks, "missing_session_date")
        return None
    when = parse_locomo_date(str(value))
    if when is None:
        count(quirks, "unparsable_session_date")
    return when


def _turn(
    path: StrPath,
    where: str,
    raw: Any,
    session_id: str,
    when: datetime | None,
    quirks: dict[str, int],
) -> DatasetTurn:
    if not isinstance(raw, dict) or not {"dia_id", "speaker", "text"} <= set(raw):
        raise layout_error(path, "locomo", f"{where} lacks 'dia_id', 'speaker' or 'text'")
    text = raw["text"]
    if not isinstance(text, str):
        raise layout_error(path, "locomo", f"{where}: 'text' must be a string")
    if not text.strip():
        count(quirks, "empty_turn")
    caption = raw.get("blip_caption")
    images = []
    if caption:
        count(quirks, "image_turns")
        text = f"{text} [shares {caption}]"
    urls = raw.get("img_url") or []
    for url in [urls] if isinstance(urls, str) else urls if isinstance(urls, list) else []:
        if isinstance(url, str) and url:
            images.append(ImageRef(url, str(caption) if caption else None))
    speaker = str(raw["speaker"])
    return DatasetTurn(str(raw["dia_id"]), session_id, "user", speaker, text, when, images=images)


def _question(
    path: StrPath,
    sample_id: str,
    index: int,
    raw: Any,
    refs: set[str],
    quirks: dict[str, int],
) -> Question:
    if not isinstance(raw, dict) or not {"question", "category"} <= set(raw):
        raise layout_error(
            path, "locomo", f"sample {sample_id} qa {index} lacks 'question' or 'category'"
        )
    category = str(raw["category"])
    if category not in _CATEGORIES:
        count(quirks, "unknown_category")

    answer = raw.get("answer")
    if answer is None or answer == "":
        count(quirks, "missing_answer")
        answer = None
    elif not isinstance(answer, str):
        count(quirks, "integer_answer" if isinstance(answer, int) else "non_string_answer")
        answer = str(answer)
    adversarial = raw.get("adversarial_answer")
    if adversarial is not None:
        adversarial = str(adversarial)
        if answer is not None:
            count(quirks, "adversarial_with_answer")

    raw_evidence = raw.get("evidence") or []
    if isinstance(raw_evidence, str):
        raw_evidence = [raw_evidence]
    evidence: list[str] = []
    for item in raw_evidence:
        item = str(item)
        if _is_canonical(item):
            ids: list[str] = [item]
        else:
            count(quirks, "malformed_evidence")
            ids, leftover = normalise_evidence(item)
            count(quirks, "normalised_evidence", 1 if ids else 0)
            count(quirks, "dropped_evidence", 1 if leftover or not ids else 0)
        for ref in ids:
            if ref in evidence:
                count(quirks, "duplicate_evidence")
                continue
            if ref not in refs:
                count(quirks, "dangling_evidence")
            evidence.append(ref)
    if not evidence:
        count(quirks, "no_evidence")

    extra: dict[str, Any] = {}
    if list(raw_evidence) != evidence:
        extra["raw_evidence"] = list(raw_evidence)
    return Question(
        id=f"{sample_id}:q{index}",
        question=str(raw["question"]),
        answer=answer,
        category=category,
        evidence=evidence,
        adversarial_answer=adversarial,
        extra=extra,
    )
