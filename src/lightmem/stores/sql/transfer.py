"""Export and import: JSON-able records, one per row, the same format for every SQL store.

Kinds: ``turn``, ``entry``, ``history``, ``batch``, ``pair``, ``image_vector`` and
``llm_call`` (the last only in a whole-store export: LLM calls belong to no scope). Fields
added by later schema versions (a turn's ``forgotten``, an entry's ``images``, a pair's
``decision``) may be absent from older exports: they take their defaults. Times are ISO
strings, vectors base64 of little-endian float32, ``consolidated`` 0/1, so an export from
one backend imports into
another and exports again unchanged. Importing an export into an empty store gives the same
store. Turn ``seq`` and history ``id`` are store-wide counters: they are kept when free and
renumbered (in their exported order) when the target store already uses any of them, so a
scope can move into a store that holds others.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from lightmem.errors import InputError
from lightmem.stores.sql import images
from lightmem.stores.sql.codec import (
    b64_to_vector,
    dump_images,
    dump_list,
    dump_meta,
    images_json,
    load_images,
    load_list,
    load_meta,
    load_time,
    load_time_required,
    scope_where,
    to_iso,
    vector_to_b64,
)
from lightmem.stores.sql.dialect import Conn, Dialect
from lightmem.stores.sql.turns import check_new_ids, existing_ids
from lightmem.text import storable, unsafe_url
from lightmem.types import EntryStatus, HistoryEvent, Scope, TurnStage

ENTRY_KINDS = ("fact", "summary", "event")
KINDS = ("turn", "image_vector", "entry", "batch", "history", "pair", "llm_call")  # import order

TURN_COLUMNS = (
    "seq", "id", "user_id", "agent_id", "run_id", "session_id", "role", "speaker", "content",
    "compressed", "tokens", "timestamp", "ref", "stage", "segment_id", "batch_id", "created_at",
)  # fmt: skip
ENTRY_COLUMNS = (
    "id", "user_id", "agent_id", "run_id", "text", "timestamp", "topic_id", "origin", "status",
    "version", "created_at", "updated_at",
)  # fmt: skip
ENTRY_LISTS = ("speakers", "keywords", "sources")
BATCH_COLUMNS = (
    "id", "user_id", "agent_id", "run_id", "status", "attempts", "last_error", "raw_reply",
    "created_at",
)  # fmt: skip
HISTORY_COLUMNS = (
    "id", "entry_id", "event", "old_text", "new_text", "reason", "actor", "created_at",
)  # fmt: skip
CALL_COLUMNS = ("stage", "tokens_in", "tokens_out", "seconds", "ok", "created_at")
TIME_COLUMNS = ("timestamp", "created_at", "updated_at")


def _plain(r: Any, columns: Iterable[str]) -> dict[str, Any]:
    """The row's values for ``columns``, times as ISO strings."""
    return {
        c: to_iso(load_time_required(r[c])) if c in TIME_COLUMNS and r[c] else r[c] for c in columns
    }


def export_records(c: Conn, d: Dialect, scope: Scope | None) -> list[dict[str, Any]]:
    def where(alias: str) -> tuple[str, list[Any]]:
        return scope_where(scope, alias) if scope is not None else ("1 = 1", [])

    def rows(sql: str, params: list[Any]) -> list[Any]:
        return list(c.execute(sql, params).fetchall())

    out: list[dict[str, Any]] = []
    w, p = where("t")
    vector = d.read_vector("t.vector")
    for r in rows(f"SELECT t.*, {vector} AS vbytes FROM turns t WHERE {w} ORDER BY t.seq", p):
        vec = vector_to_b64(d.load_vector(r["vbytes"]))
        rec = {"kind": "turn", **_plain(r, TURN_COLUMNS), "author": r["author"],
               "images": images_json(load_images(r["images"])),
               "forgotten": int(r["forgotten"])}  # fmt: skip
        out.append({**rec, "vector": vec})
    w, p = where("e")
    sql = f"""SELECT e.*, {d.read_vector("e.vector")} AS vbytes, {d.queued("e")} AS queued
              FROM entries e WHERE {w} ORDER BY e.pk"""
    for r in rows(sql, p):
        rec = {"kind": "entry", **_plain(r, ENTRY_COLUMNS), "consolidated": 0 if r["queued"] else 1}
        rec.update({c: load_list(r[c]) for c in ENTRY_LISTS})
        rec.update(pinned=int(r["pinned"]), expires_at=to_iso(load_time(r["expires_at"])))
        rec.update(memory_kind=r["kind"], meta=load_meta(r["meta"]))
        rec["images"] = images_json(load_images(r["images"]))
        out.append({**rec, "vector": vector_to_b64(d.load_vector(r["vbytes"]))})
    w, p = where("b")
    for r in rows(f"SELECT b.* FROM batches b WHERE {w} ORDER BY b.pk", p):
        out.append(
            {"kind": "batch", **_plain(r, BATCH_COLUMNS), "turn_ids": load_list(r["turn_ids"])}
        )
    w, p = where("e")
    sql = f"SELECT h.* FROM history h JOIN entries e ON e.id = h.entry_id WHERE {w} ORDER BY h.id"
    out += [{"kind": "history", **_plain(r, HISTORY_COLUMNS)} for r in rows(sql, p)]
    ws, ps = where("s")
    sql = f"""SELECT p.target_id, p.source_id, p.decision, p.reason, p.decided_at
              FROM consolidation_pairs p
              JOIN entries e ON e.id = p.target_id JOIN entries s ON s.id = p.source_id
              WHERE {w} AND {ws} ORDER BY p.target_id{d.bytewise}, p.source_id{d.bytewise}"""
    for r in rows(sql, p + ps):
        out.append({"kind": "pair", "target_id": r["target_id"], "source_id": r["source_id"],
                    "decision": r["decision"], "reason": r["reason"],
                    "decided_at": to_iso(load_time(r["decided_at"]))})  # fmt: skip
    out += images.export_image_vectors(c, d, scope)
    if scope is None:
        for r in rows("SELECT * FROM llm_calls ORDER BY id", []):
            out.append({"kind": "llm_call", **_plain(r, CALL_COLUMNS), "ok": bool(r["ok"])})
    return out


def import_records(c: Conn, d: Dialect, records: Iterable[dict[str, Any]], dim: int) -> int:
    by_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    count = 0
    for n, rec in enumerate(records):
        kind = rec.get("kind") if isinstance(rec, dict) else None
        if kind not in by_kind:
            raise InputError(f"import: record {n} has no known kind (one of {', '.join(KINDS)})")
        _check_shape(n, str(kind), rec, dim)
        by_kind[str(kind)].append(rec)
        count += 1
    d.before_import(c)
    try:
        _import_turns(c, d, by_kind["turn"], dim)
        _import_entries(c, d, by_kind["entry"], dim)
        _import_batches(c, d, by_kind["batch"])
        _import_history(c, d, by_kind["history"])
        _import_turn_flags(c, d, by_kind["turn"])
        images.import_image_vectors(c, d, by_kind["image_vector"])
        c.executemany(
            """INSERT INTO consolidation_pairs (target_id, source_id, decision, reason,
               decided_at) VALUES (?, ?, ?, ?, ?)""",
            [
                (r["target_id"], r["source_id"], r.get("decision"), r.get("reason"),
                 d.dump_time(load_time(r.get("decided_at"))))
                for r in by_kind["pair"]
            ],
        )  # fmt: skip
        c.executemany(
            _insert("llm_calls", CALL_COLUMNS),
            [_values(d, r, CALL_COLUMNS) for r in by_kind["llm_call"]],
        )
    except KeyError as exc:
        raise InputError(f"import: a record lacks the field {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise InputError(f"import: a record holds a value of the wrong form: {exc}") from exc
    return count


#: The form of each field a record may hold, by kind (``?``: may be null; ``!``: required).
#: ``lightmem export`` writes every one; older exports lack the fields added since, and
#: those must be optional here.
_S, _S0, _T, _T0, _I, _I0 = "str!", "str?", "time!", "time?", "int!", "int?"
SHAPES: dict[str, dict[str, str]] = {
    "turn": {
        "seq": _I0, "id": _S, "user_id": _S0 + "!", "agent_id": _S0 + "!", "run_id": _S0 + "!",
        "session_id": _S0 + "!", "role": _S, "speaker": _S0 + "!", "content": _S,
        "compressed": _S0 + "!", "tokens": _I, "timestamp": _T0 + "!", "ref": _S0 + "!",
        "stage": _S, "segment_id": _S0 + "!", "batch_id": _S0 + "!", "created_at": _T,
        "author": _S0, "images": "images?", "forgotten": "bool?", "vector": "vector?",
    },
    "entry": {
        "id": _S, "user_id": _S0 + "!", "agent_id": _S0 + "!", "run_id": _S0 + "!",
        "text": _S, "timestamp": _T0 + "!", "topic_id": _S0 + "!", "origin": _S,
        "status": _S, "version": _I, "created_at": _T, "updated_at": _T0 + "!",
        "speakers": "strs?", "keywords": "strs?", "sources": "strs?", "pinned": "bool?",
        "expires_at": _T0, "memory_kind": _S0, "meta": "meta?", "images": "images?",
        "consolidated": "bool?", "vector": "vector?",
    },
    "batch": {
        "id": _S, "user_id": _S0 + "!", "agent_id": _S0 + "!", "run_id": _S0 + "!",
        "status": _S, "attempts": _I, "last_error": _S0 + "!", "raw_reply": _S0 + "!",
        "created_at": _T, "turn_ids": "strs!",
    },
    "history": {
        "id": _I0, "entry_id": _S, "event": _S, "old_text": _S0 + "!", "new_text": _S0 + "!",
        "reason": _S0 + "!", "actor": _S, "created_at": _T,
    },
    "pair": {"target_id": _S, "source_id": _S, "decision": _S0, "reason": _S0,
             "decided_at": _T0},
    "llm_call": {"stage": _S, "tokens_in": _I, "tokens_out": _I, "seconds": "num!",
                 "ok": "bool!", "created_at": _T},
    "image_vector": {"turn_id": _S, "n": _I, "model": _S, "vector": "str!"},
}  # fmt: skip
#: Fields with a closed set of values, by kind.
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("turn", "stage"): tuple(s.value for s in TurnStage),
    ("entry", "status"): tuple(s.value for s in EntryStatus),
    ("entry", "origin"): ("llm", "turn", "manual"),
    ("batch", "status"): ("pending", "failed", "done"),
    ("history", "event"): tuple(e.value for e in HistoryEvent),
}


def _check_shape(n: int, kind: str, rec: dict[str, Any], dim: int) -> None:
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
            return "must hold http(s) URLs or paths (no javascript:, vbscript: or data: URL)"
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


def _values(d: Dialect, rec: dict[str, Any], columns: Iterable[str]) -> list[Any]:
    """The record's values for ``columns``, times and flags as the store binds them."""
    out: list[Any] = []
    for c in columns:
        v = rec[c]
        if c in TIME_COLUMNS and v is not None:
            v = d.dump_time(load_time_required(str(v)))
        elif c == "ok":
            v = bool(v)
        out.append(v)
    return out


def _insert(table: str, columns: Iterable[str], marks: dict[str, str] | None = None) -> str:
    names = list(columns)
    values = ", ".join((marks or {}).get(n, "?") for n in names)
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES ({values})"


def _keep(c: Conn, d: Dialect, table: str, column: str, values: list[Any]) -> bool:
    """True if every value is an int, none repeats, and none is used in ``table.column``."""
    if not all(type(v) is int for v in values) or len(set(values)) != len(values):
        return False
    for where, params in d.any_of(column, values):
        if c.execute(f"SELECT 1 FROM {table} WHERE {where} LIMIT 1", params).fetchone():
            return False
    return True


def _vector(d: Dialect, text: str | None, dim: int, what: str) -> Any:
    vector = b64_to_vector(text, dim, what)
    return None if vector is None else d.dump_vector(vector)


def _import_turns(c: Conn, d: Dialect, recs: list[dict[str, Any]], dim: int) -> None:
    check_new_ids(c, d, "turns", "turn", [r["id"] for r in recs])
    seqs = [r.get("seq") for r in recs]
    keep = _keep(c, d, "turns", "seq", seqs)
    columns = (*(TURN_COLUMNS if keep else TURN_COLUMNS[1:]), "author", "images", "vector")
    c.executemany(
        _insert("turns", columns, {"vector": d.vector_param, "images": d.json_param}),
        [
            [
                *_values(d, r, columns[:-3]),
                r.get("author"),  # absent in exports before shared pools
                dump_images(load_images(r.get("images"))),
                _vector(d, r.get("vector"), dim, "import turn"),
            ]
            for r in recs
        ],
    )
    if keep and recs:
        d.after_explicit_ids(c, "turns", "seq", [int(s) for s in seqs if s is not None])


def _import_entries(c: Conn, d: Dialect, recs: list[dict[str, Any]], dim: int) -> None:
    check_new_ids(c, d, "entries", "entry", [r["id"] for r in recs])
    columns = (
        *ENTRY_COLUMNS, *ENTRY_LISTS, "pinned", "expires_at", "kind", "meta", "images", "vector",
    )  # fmt: skip
    marks = {c: d.json_param for c in (*ENTRY_LISTS, "meta", "images")} | {"vector": d.vector_param}
    rows = []
    for r in recs:
        lists = [dump_list(r.get(c) or []) for c in ENTRY_LISTS]
        rows.append(
            [
                *_values(d, r, ENTRY_COLUMNS),
                *lists,
                int(bool(r.get("pinned"))),  # absent in exports before forgetting
                d.dump_time(load_time(r.get("expires_at"))),
                _entry_kind(r),  # absent in exports before structure: a fact
                dump_meta(load_meta(r.get("meta"))),
                dump_images(load_images(r.get("images"))),  # absent before schema 6
                _vector(d, r.get("vector"), dim, "import entry"),
            ]
        )
    c.executemany(_insert("entries", columns, marks), rows)
    d.enqueue(c, [r["id"] for r in recs if not r.get("consolidated")])
    d.dequeue(c, [r["id"] for r in recs if r.get("consolidated")])


def _entry_kind(rec: dict[str, Any]) -> str:
    kind = rec.get("memory_kind") or "fact"
    if kind not in ENTRY_KINDS:
        raise InputError(
            f"import: entry {rec.get('id')!r} has memory_kind {kind!r}; "
            f"use one of {', '.join(ENTRY_KINDS)}"
        )
    return str(kind)


def _import_turn_flags(c: Conn, d: Dialect, recs: list[dict[str, Any]]) -> None:
    """Turns exported as forgotten stay forgotten (absent before schema 6: not forgotten)."""
    ids = [str(r["id"]) for r in recs if r.get("forgotten")]
    for where, params in d.any_of("id", ids):
        c.execute(f"UPDATE turns SET forgotten = 1 WHERE {where}", params)


def _import_batches(c: Conn, d: Dialect, recs: list[dict[str, Any]]) -> None:
    check_new_ids(c, d, "batches", "batch", [r["id"] for r in recs])
    columns = (*BATCH_COLUMNS, "turn_ids")
    c.executemany(
        _insert("batches", columns, {"turn_ids": d.json_param}),
        [[*_values(d, r, BATCH_COLUMNS), dump_list(r["turn_ids"])] for r in recs],
    )


def _import_history(c: Conn, d: Dialect, recs: list[dict[str, Any]]) -> None:
    entry_ids = list(dict.fromkeys(r["entry_id"] for r in recs))
    found = set(existing_ids(c, d, "entries", entry_ids))
    missing = [i for i in entry_ids if i not in found]
    if missing:
        raise InputError(f"import: history of unknown entries: {', '.join(missing[:10])}")
    ids = [r.get("id") for r in recs]
    keep = _keep(c, d, "history", "id", ids)
    columns = HISTORY_COLUMNS if keep else HISTORY_COLUMNS[1:]
    c.executemany(_insert("history", columns), [_values(d, r, columns) for r in recs])
    if keep and recs:
        d.after_explicit_ids(c, "history", "id", [int(i) for i in ids if i is not None])
