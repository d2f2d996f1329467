"""The export format and import: JSON-able records, one per row, the same format for every
SQL store (``export.py`` reads them out, chunk by chunk; this module writes them in).

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

from collections.abc import Iterable
from typing import Any

from lightmem.errors import InputError
from lightmem.stores.sql import images
from lightmem.stores.sql.codec import (
    b64_to_vector,
    dump_images,
    dump_list,
    dump_meta,
    load_images,
    load_meta,
    load_time,
    load_time_required,
)
from lightmem.stores.sql.dialect import Conn, Dialect
from lightmem.stores.sql.forms import check_shape
from lightmem.stores.sql.turns import check_new_ids, existing_ids

ENTRY_KINDS = ("fact", "summary", "event")
KINDS = ("turn", "image_vector", "entry", "batch", "history", "pair", "llm_call")  # import order

TURN_COLUMNS = (
    "seq",
    "id",
    "user_id",
    "agent_id",
    "run_id",
    "session_id",
    "role",
    "speaker",
    "content",
    "compressed",
    "tokens",
    "timestamp",
    "ref",
    "stage",
    "segment_id",
    "batch_id",
    "created_at",
)
ENTRY_COLUMNS = (
    "id",
    "user_id",
    "agent_id",
    "run_id",
    "text",
    "timestamp",
    "topic_id",
    "origin",
    "status",
    "version",
    "created_at",
    "updated_at",
)
ENTRY_LISTS = ("speakers", "keywords", "sources")
BATCH_COLUMNS = (
    "id",
    "user_id",
    "agent_id",
    "run_id",
    "status",
    "attempts",
    "last_error",
    "raw_reply",
    "created_at",
)
HISTORY_COLUMNS = (
    "id",
    "entry_id",
    "event",
    "old_text",
    "new_text",
    "reason",
    "actor",
    "created_at",
)
CALL_COLUMNS = ("stage", "tokens_in", "tokens_out", "seconds", "ok", "created_at")
TIME_COLUMNS = ("timestamp", "created_at", "updated_at")


def import_records(c: Conn, d: Dialect, records: Iterable[dict[str, Any]], dim: int) -> int:
    by_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    count = 0
    for n, rec in enumerate(records):
        kind = rec.get("kind") if isinstance(rec, dict) else None
        if kind not in by_kind:
            raise InputError(f"import: record {n} has no known kind (one of {', '.join(KINDS)})")
        check_shape(n, str(kind), rec, dim)
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
                (
                    r["target_id"],
                    r["source_id"],
                    r.get("decision"),
                    r.get("reason"),
                    d.dump_time(load_time(r.get("decided_at"))),
                )
                for r in by_kind["pair"]
            ],
        )
        c.executemany(
            _insert("llm_calls", CALL_COLUMNS),
            [_values(d, r, CALL_COLUMNS) for r in by_kind["llm_call"]],
        )
    except KeyError as exc:
        raise InputError(f"import: a record lacks the field {exc}") from exc
    except (TypeError, ValueError) as exc:
        raise InputError(f"import: a record holds a value of the wrong form: {exc}") from exc
    return count


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
        *ENTRY_COLUMNS,
        *ENTRY_LISTS,
        "pinned",
        "expires_at",
        "kind",
        "meta",
        "images",
        "superseded_by",
        "valid_until",
        "vector",
    )
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
                r.get("superseded_by"),  # absent before schema 9: current
                d.dump_time(load_time(r.get("valid_until"))),
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
