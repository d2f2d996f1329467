"""The form of every field an export record may hold, checked before an import writes
anything: a wrong type would break every later list or search of its owner, or read as a
storage outage (PostgreSQL refuses a NUL), so it is a clear error naming the record and field."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, datetime
from typing import Any

from lightmem.errors import InputError
from lightmem.stores.sql.codec import load_images
from lightmem.text import storable, unsafe_url
from lightmem.types import EntryStatus, HistoryEvent, TurnStage

#: The form of each field a record may hold, by kind (``?``: may be null; ``!``: required).
#: ``lightmem export`` writes every one; older exports lack the fields added since, and
#: those must be optional here.
_S, _S0, _T, _T0, _I, _I0 = "str!", "str?", "time!", "time?", "int!", "int?"
SHAPES: dict[str, dict[str, str]] = {
    "turn": {
        "seq": _I0,
        "id": _S,
        "user_id": _S0 + "!",
        "agent_id": _S0 + "!",
        "run_id": _S0 + "!",
        "session_id": _S0 + "!",
        "role": _S,
        "speaker": _S0 + "!",
        "content": _S,
        "compressed": _S0 + "!",
        "tokens": _I,
        "timestamp": _T0 + "!",
        "ref": _S0 + "!",
        "stage": _S,
        "segment_id": _S0 + "!",
        "batch_id": _S0 + "!",
        "created_at": _T,
        "author": _S0,
        "images": "images?",
        "forgotten": "bool?",
        "vector": "vector?",
    },
    "entry": {
        "id": _S,
        "user_id": _S0 + "!",
        "agent_id": _S0 + "!",
        "run_id": _S0 + "!",
        "text": _S,
        "timestamp": _T0 + "!",
        "topic_id": _S0 + "!",
        "origin": _S,
        "status": _S,
        "version": _I,
        "created_at": _T,
        "updated_at": _T0 + "!",
        "speakers": "strs?",
        "keywords": "strs?",
        "sources": "strs?",
        "pinned": "bool?",
        "expires_at": _T0,
        "memory_kind": _S0,
        "meta": "meta?",
        "images": "images?",
        "superseded_by": _S0,
        "valid_until": _T0,
        "consolidated": "bool?",
        "vector": "vector?",
    },
    "batch": {
        "id": _S,
        "user_id": _S0 + "!",
        "agent_id": _S0 + "!",
        "run_id": _S0 + "!",
        "status": _S,
        "attempts": _I,
        "last_error": _S0 + "!",
        "raw_reply": _S0 + "!",
        "created_at": _T,
        "turn_ids": "strs!",
    },
    "history": {
        "id": _I0,
        "entry_id": _S,
        "event": _S,
        "old_text": _S0 + "!",
        "new_text": _S0 + "!",
        "reason": _S0 + "!",
        "actor": _S,
        "created_at": _T,
    },
    "pair": {"target_id": _S, "source_id": _S, "decision": _S0, "reason": _S0, "decided_at": _T0},
    "llm_call": {
        "stage": _S,
        "tokens_in": _I,
        "tokens_out": _I,
        "seconds": "num!",
        "ok": "bool!",
        "created_at": _T,
    },
    "image_vector": {"turn_id": _S, "n": _I, "model": _S, "vector": "str!"},
}
#: Fields with a closed set of values, by kind.
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("turn", "stage"): tuple(s.value for s in TurnStage),
    ("entry", "status"): tuple(s.value for s in EntryStatus),
    ("entry", "origin"): ("llm", "turn", "manual"),
    ("batch", "status"): ("pending", "failed", "done"),
    ("history", "event"): tuple(e.value for e in HistoryEvent),
}


def check_shape(n: int, kind: str, rec: dict[str, Any], dim: int) -> None:
    """Refuse a record that lacks a field or holds a value of the wrong form, saying which
    record and which field, before anything is written: what an import stores must read
    back (a wrong type would break every later list or search of its owner)."""
    where = f"import: record {n} ({kind})"
    shape = SHAPES.get(kind, {})
    missing = [f for f, form in shape.items() if form.endswith("!") and f not in rec]
    if missing:
        raise InputError(
            f"{where} lacks {', '.join(repr(f) for f in missing)}; import records as "
            f"`lightmem export` writes them"
        )
    for field, form in shape.items():
        value = rec.get(field)
        if value is None and "?" in form:
            continue
        problem = _form_problem(form.split("?")[0].rstrip("!"), value, dim)
        if problem:
            raise InputError(f"{where}: {field} {problem}, got {_shown(value)}")
    for (k, field), allowed in CHOICES.items():
        if k == kind and rec.get(field) not in allowed:
            raise InputError(
                f"{where}: {field} is {_shown(rec.get(field))}; use one of {', '.join(allowed)}"
            )
    if kind == "entry" and rec["version"] < 1:
        raise InputError(f"{where}: version must be 1 or more, got {rec['version']}")


def _form_problem(form: str, value: Any, dim: int) -> str | None:
    """Why ``value`` does not have the form, or None."""
    if form == "str":
        return None if isinstance(value, str) and storable(value) else "must be a string" + _NO_NUL
    if form == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 0
        return None if ok else "must be a whole number, 0 or more"
    if form == "num":
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        return None if ok and math.isfinite(value) else "must be a number, 0 or more"
    if form == "bool":
        return None if value in (True, False, 0, 1) else "must be true or false"
    if form == "strs":
        ok = isinstance(value, list) and all(isinstance(v, str) and storable(v) for v in value)
        return None if ok else "must be a list of strings" + _NO_NUL
    if form == "time":
        if not isinstance(value, str):
            return "must be an ISO 8601 time (a string)"
        try:
            t = datetime.fromisoformat(value)
            if t.tzinfo is not None:
                t.astimezone(UTC)
        except (ValueError, OverflowError):
            return "must be an ISO 8601 time between the years 1 and 9999 in UTC"
        return None
    if form == "meta":
        if not (isinstance(value, dict) or _json_object(value)):
            return "must be a JSON object"
        obj = value if isinstance(value, dict) else json.loads(value)
        return None if _clean_json(obj) else "must be a JSON object" + _NO_NUL
    if form == "images":
        try:
            refs = load_images(value)
        except (TypeError, ValueError):
            return "must be a list of {'url': string, 'caption': string or null}"
        if any(unsafe_url(i.url) or not storable(i.url + (i.caption or "")) for i in refs):
            return (
                "must hold http(s) URLs or paths (no control character, no javascript:, "
                "vbscript: or data: URL)"
            )
        return None
    if form == "vector":
        if not isinstance(value, str):
            return f"must be base64 of {dim} little-endian float32 values"
        try:
            data = base64.b64decode(value.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            return "must be base64"
        return None if len(data) == 4 * dim else f"must hold {dim} float32 values (this store's)"
    raise AssertionError(form)


_NO_NUL = " without NUL characters or invalid Unicode (lone surrogates)"


def _clean_json(value: Any) -> bool:
    """Every string of a JSON value (keys too) is clean (PostgreSQL's jsonb takes no NUL)."""
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, dict):
        return all(storable(str(k)) and _clean_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_clean_json(v) for v in value)
    return True


def _json_object(value: Any) -> bool:
    try:
        return isinstance(value, str) and isinstance(json.loads(value), dict)
    except ValueError:
        return False


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
