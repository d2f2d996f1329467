"""Our own simple format: JSON Lines, one message per line.

A line is a message as everywhere else (``lightmem add``, the Python API, REST): ``role``
and ``content``, optionally ``speaker`` (or ``name``), ``timestamp`` (or ``time``; ISO 8601
or a UNIX epoch), ``session_id``, ``ref`` (or ``id``: your id of the message) and
``images``, plus ``user_id``: the messages of each ``user_id`` (``"default"`` when absent)
form one :class:`Conversation`, in file order. A message's ref is its ``ref``/``id``, else
``"L{line number}"``. Blank lines are skipped. Any other key is an error (a misspelled key
must not be dropped quietly). Quirks counted: ``missing_timestamp``. The schema:
docs/cli-json.md, "Messages in files".
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from lightmem.datasets.base import (
    Conversation,
    Dataset,
    DatasetTurn,
    StrPath,
    count,
    guess_format,
    read_text,
)
from lightmem.errors import InputError
from lightmem.messages import MESSAGE_KEYS, parse_images
from lightmem.timeutil import parse_timestamp

_KEYS = MESSAGE_KEYS | {"user_id"}
DEFAULT_USER = "default"
DEFAULT_SESSION = "default"


def load_jsonl(path: StrPath, user_ids: Collection[str] | None = None) -> Dataset:
    """Read a JSON Lines message file (all users, or only ``user_ids``)."""
    text, digest = read_text(path)
    quirks: dict[str, int] = {}
    by_user: dict[str, list[DatasetTurn]] = {}
    refs: dict[str, set[str]] = {}
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        user_id, turn = _message(path, lineno, line, text, quirks)
        seen = refs.setdefault(user_id, set())
        if turn.ref in seen:
            raise InputError(
                f"{path}, line {lineno}: id {turn.ref!r} repeats an earlier message of user "
                f"{user_id!r}; give each message a unique id"
            )
        seen.add(turn.ref)
        by_user.setdefault(user_id, []).append(turn)
    if not by_user:
        raise InputError(f"{path}: holds no messages; write one JSON object per line")
    if user_ids is not None:
        missing = set(user_ids) - set(by_user)
        if missing:
            raise InputError(
                f"{path}: no messages for user_id {', '.join(sorted(missing))}; "
                f"the file has: {', '.join(by_user)}"
            )
    conversations = [
        Conversation(user, turns, [])
        for user, turns in by_user.items()
        if user_ids is None or user in user_ids
    ]
    return Dataset("jsonl", str(Path(path)), digest, conversations, dict(sorted(quirks.items())))


def _message(
    path: StrPath, lineno: int, line: str, text: str, quirks: dict[str, int]
) -> tuple[str, DatasetTurn]:
    where = f"{path}, line {lineno}"
    try:
        raw: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg}){_whole_file_hint(text)}") from None
    if not isinstance(raw, dict):
        raise InputError(
            f"{where}: expected a JSON object per line, got {type(raw).__name__}"
            f"{_whole_file_hint(text)}"
        )
    unknown = sorted(set(raw) - _KEYS)
    if unknown:
        raise InputError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(_KEYS))}"
        )
    for key in ("role", "content"):
        if not isinstance(raw.get(key), str):
            raise InputError(f"{where}: {key!r} is required and must be a string")
    speaker = _one_of(raw, "speaker", "name", where)
    ref = _one_of(raw, "ref", "id", where)
    stamp = _one_of(raw, "timestamp", "time", where)
    timestamp = None
    if stamp is None:
        count(quirks, "missing_timestamp")
    else:
        timestamp = parse_timestamp(stamp, field=f"{where}: timestamp")
    turn = DatasetTurn(
        ref=str(ref) if ref is not None else f"L{lineno}",
        session_id=str(raw.get("session_id") or DEFAULT_SESSION),
        role=raw["role"],
        speaker=None if speaker is None else str(speaker),
        content=raw["content"],
        timestamp=timestamp,
        images=parse_images(raw.get("images"), where),
    )
    return str(raw.get("user_id") or DEFAULT_USER), turn


def _one_of(raw: dict[str, Any], key: str, alias: str, where: str) -> Any:
    """A key given under its name or its alias (both only when they agree)."""
    value, other = raw.get(key), raw.get(alias)
    if value is not None and other is not None and value != other:
        raise InputError(f"{where}: {key!r} and {alias!r} disagree; give only one")
    return value if value is not None else other


def _whole_file_hint(text: str) -> str:
    """If the whole file is one JSON document, say which format it looks like."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return ""
    guess = guess_format(data)
    if guess in ("locomo", "longmemeval"):
        return f"; the file is one JSON document that looks like {guess}: use --format {guess}"
    return "; the file is one JSON document: write one message object per line"
