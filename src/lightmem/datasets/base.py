"""What every dataset loader returns, and the file reading they share.

A loader never fixes a quirk silently: it counts every one it meets in ``Dataset.quirks``
(e.g. ``{"integer_answer": 6, "no_evidence": 2}``), so a report can show what the data held.
Timestamps are naive UTC ``datetime`` objects, as everywhere in LightMem.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from lightmem.errors import InputError
from lightmem.types import ImageRef

StrPath = str | os.PathLike[str]


@dataclass(slots=True)
class DatasetTurn:
    """One message of a benchmark conversation; ``ref`` is the dataset's own id for it."""

    ref: str
    session_id: str
    role: str
    speaker: str | None
    content: str
    timestamp: datetime | None
    has_answer: bool = False
    #: images the turn shares (LoCoMo ``img_url`` with its ``blip_caption``)
    images: list[ImageRef] = field(default_factory=list)


@dataclass(slots=True)
class Question:
    """A question with its gold answer and the refs of the turns that hold the evidence.

    ``evidence`` may name a ref that no turn has (a dangling id, counted by the loader): a
    metric must treat it as unretrievable, never drop it.
    """

    id: str
    question: str
    answer: str | None
    category: str
    evidence: list[str]
    adversarial_answer: str | None = None
    question_date: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Conversation:
    sample_id: str
    turns: list[DatasetTurn]
    questions: list[Question]

    @property
    def session_ids(self) -> list[str]:
        """The session ids in the order their first turn appears."""
        return list(dict.fromkeys(turn.session_id for turn in self.turns))

    @property
    def refs(self) -> set[str]:
        return {turn.ref for turn in self.turns}


@dataclass(slots=True)
class Dataset:
    name: str
    path: str
    sha256: str
    conversations: list[Conversation]
    quirks: dict[str, int]

    @property
    def n_turns(self) -> int:
        return sum(len(conv.turns) for conv in self.conversations)

    @property
    def n_questions(self) -> int:
        return sum(len(conv.questions) for conv in self.conversations)


def sha256_file(path: StrPath) -> str:
    """Hex SHA-256 of a file's bytes (recorded with every benchmark result)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_text(path: StrPath) -> tuple[str, str]:
    """The file's text (UTF-8, a leading BOM allowed) and the SHA-256 of its bytes."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{p}: no such file; check the path") from None
    except IsADirectoryError:
        raise InputError(f"{p}: is a directory; give the path of the data file") from None
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror})") from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{p}: is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-save the file as UTF-8"
        ) from None
    return text, hashlib.sha256(data).hexdigest()


def read_json(path: StrPath, expected: str) -> tuple[Any, str]:
    """Parse a whole-file JSON document; ``expected`` names the format for error messages."""
    text, digest = read_text(path)
    try:
        return json.loads(text), digest
    except json.JSONDecodeError as exc:
        hint = ""
        if _looks_like_jsonl(text):
            hint = "; it looks like a JSON Lines file (one message per line): use --format jsonl"
        raise InputError(
            f"{path}: is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"expected a {expected} JSON file{hint}"
        ) from None


def guess_format(data: Any) -> str | None:
    """Which of our formats a parsed JSON document looks like, if any (for error hints)."""
    first = data[0] if isinstance(data, list) and data else data
    if not isinstance(first, dict):
        return None
    if "haystack_sessions" in first:
        return "longmemeval"
    if "conversation" in first and "qa" in first:
        return "locomo"
    if "role" in first and "content" in first:
        return "jsonl"
    return None


def layout_error(path: StrPath, expected: str, detail: str, data: Any = None) -> InputError:
    """An :class:`InputError` for a file in the wrong layout, with a hint at the right format."""
    guess = guess_format(data)
    if guess == "jsonl":
        hint = "it looks like a list of messages: write one message per line and use --format jsonl"
    elif guess is not None and guess != expected:
        hint = f"it looks like a {_NAMES[guess]} file; use --format {guess}"
    else:
        hint = f"expected the public {_NAMES[expected]} layout"
    return InputError(f"{path}: not a {_NAMES[expected]} file: {detail}; {hint}")


def count(quirks: dict[str, int], name: str, n: int = 1) -> None:
    """Add ``n`` to the count of quirk ``name`` (only quirks actually met are recorded)."""
    if n:
        quirks[name] = quirks.get(name, 0) + n


_NAMES = {"locomo": "LoCoMo", "longmemeval": "LongMemEval", "jsonl": "JSON Lines"}


def _looks_like_jsonl(text: str) -> bool:
    lines = [line for line in text.splitlines() if line.strip()]
    if len(lines) < 2:
        return False
    try:
        return isinstance(json.loads(lines[0]), dict)
    except json.JSONDecodeError:
        return False
