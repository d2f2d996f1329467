"""Export and import: JSON-able records, one per row, vectors base64-encoded.

Kinds: ``turn``, ``entry``, ``history``, ``batch``, ``pair`` and ``llm_call`` (the last only
in a whole-store export: LLM calls belong to no scope). Importing an export into an empty
store gives the same store. Turn ``seq`` and history ``id`` are store-wide counters: they
are kept when free and renumbered (in their exported order) when the target store already
uses any of them, so a scope can move into a store that holds others.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from typing import Any

from lightmem.errors import InputError
from lightmem.stores.sqlite.codec import (
    b64_to_blob,
    blob_to_b64,
    dump_list,
    from_iso_required,
    load_list,
    scope_where,
    to_iso,
)
from lightmem.stores.sqlite.turns import check_new_ids, existing_ids
from lightmem.types import Scope

KINDS = ("turn", "entry", "batch", "history", "pair", "llm_call")  # import order

TURN_COLUMNS = (
    "seq", "id", "user_id", "agent_id", "run_id", "session_id", "role", "speaker", "content",
    "compressed", "tokens", "timestamp", "ref", "stage", "segment_id", "batch_id", "created_at",
)  # fmt: skip
ENTRY_COLUMNS = (
    "id", "user_id", "agent_id", "run_id", "text", "timestamp", "topic_id", "origin", "status",
    "version", "created_at", "updated_at", "consolidated",
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


def export_records(conn: sqlite3.Connection, scope: Scope | None) -> list[dict[str, Any]]:
    def where(alias: str) -> tuple[str, list[Any]]:
        return scope_where(scope, alias) if scope is not None else ("1", [])

    out: list[dict[str, Any]] = []
    w, p = where("")
    for r in conn.execute(f"SELECT * FROM turns WHERE {w} ORDER BY seq", p):
        out.append(
            {"kind": "turn", **{c: r[c] for c in TURN_COLUMNS}, "vector": blob_to_b64(r["vector"])}
        )
    for r in conn.execute(f"SELECT * FROM entries WHERE {w} ORDER BY pk", p):
        rec = {"kind": "entry", **{c: r[c] for c in ENTRY_COLUMNS}}
        rec.update({c: load_list(r[c]) for c in ENTRY_LISTS})
        out.append({**rec, "vector": blob_to_b64(r["vector"])})
    for r in conn.execute(f"SELECT * FROM batches WHERE {w} ORDER BY pk", p):
        rec = {"kind": "batch", **{c: r[c] for c in BATCH_COLUMNS}}
        out.append({**rec, "turn_ids": load_list(r["turn_ids"])})
    w, p = where("e")
    sql = f"SELECT h.* FROM history h JOIN entries e ON e.id = h.entry_id WHERE {w} ORDER BY h.id"
    out += [{"kind": "history", **{c: r[c] for c in HISTORY_COLUMNS}} for r in conn.execute(sql, p)]
    ws, ps = where("s")
    sql = f"""SELECT p.target_id, p.source_id FROM consolidation_pairs p
              JOIN entries e ON e.id = p.target_id JOIN entries s ON s.id = p.source_id
              WHERE {w} AND {ws} ORDER BY p.target_id, p.source_id"""
    out += [
        {"kind": "pair", "target_id": r[0], "source_id": r[1]} for r in conn.execute(sql, p + ps)
    ]
    if scope is None:
        sql = "SELECT * FROM llm_calls ORDER BY id"
        out += [
            {"kind": "llm_call", **{c: r[c] for c in CALL_COLUMNS}, "ok": bool(r["ok"])}
            for r in conn.execute(sql)
        ]
    return out


def import_records(conn: sqlite3.Connection, records: Iterable[dict[str, Any]], dim: int) -> int:
    by_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    count = 0
    for n, rec in enumerate(records):
        kind = rec.get("kind") if isinstance(rec, dict) else None
        if kind not in by_kind:
            raise InputError(f"import: record {n} has no known kind (one of {', '.join(KINDS)})")
        by_kind[str(kind)].append(rec)
        count += 1
    try:
        _import_turns(conn, by_kind["turn"], dim)
        _import_entries(conn, by_kind["entry"], dim)
        _import_batches(conn, by_kind["batch"])
        _import_history(conn, by_kind["history"])
        conn.executemany(
            "INSERT INTO consolidation_pairs (target_id, source_id) VALUES (?, ?)",
            [(r["target_id"], r["source_id"]) for r in by_kind["pair"]],
        )
        conn.executemany(
            f"INSERT INTO llm_calls ({', '.join(CALL_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)",
            [_values(r, CALL_COLUMNS) for r in by_kind["llm_call"]],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"import: a record is malformed: {type(exc).__name__}: {exc}") from exc
    return count


def _values(rec: dict[str, Any], columns: Iterable[str]) -> list[Any]:
    """The record's values for ``columns``; times re-encoded so they sort as stored ones."""
    out: list[Any] = []
    for c in columns:
        v = rec[c]
        if c in TIME_COLUMNS and v is not None:
            v = to_iso(from_iso_required(str(v)))
        out.append(v)
    return out


def _free(conn: sqlite3.Connection, table: str, column: str, values: list[Any]) -> bool:
    """True if every value is an int, none repeats, and none is used in ``table.column``."""
    if not all(isinstance(v, int) for v in values) or len(set(values)) != len(values):
        return False
    return not any(
        conn.execute(f"SELECT 1 FROM {table} WHERE {column} = ?", (v,)).fetchone() for v in values
    )


def _import_turns(conn: sqlite3.Connection, recs: list[dict[str, Any]], dim: int) -> None:
    check_new_ids(conn, "turns", "turn", [r["id"] for r in recs])
    keep_seq = _free(conn, "turns", "seq", [r.get("seq") for r in recs])
    columns = (*(TURN_COLUMNS if keep_seq else TURN_COLUMNS[1:]), "vector")
    sql = f"INSERT INTO turns ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    for r in recs:
        blob = b64_to_blob(r.get("vector"), dim, "import turn")
        conn.execute(sql, [*_values(r, columns[:-1]), blob])


def _import_entries(conn: sqlite3.Connection, recs: list[dict[str, Any]], dim: int) -> None:
    check_new_ids(conn, "entries", "entry", [r["id"] for r in recs])
    columns = (*ENTRY_COLUMNS, *ENTRY_LISTS, "vector")
    sql = f"INSERT INTO entries ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    for r in recs:
        lists = [dump_list([str(x) for x in r.get(c) or []]) for c in ENTRY_LISTS]
        blob = b64_to_blob(r.get("vector"), dim, "import entry")
        conn.execute(sql, [*_values(r, ENTRY_COLUMNS), *lists, blob])


def _import_batches(conn: sqlite3.Connection, recs: list[dict[str, Any]]) -> None:
    check_new_ids(conn, "batches", "batch", [r["id"] for r in recs])
    columns = (*BATCH_COLUMNS, "turn_ids")
    sql = f"INSERT INTO batches ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    for r in recs:
        conn.execute(sql, [*_values(r, BATCH_COLUMNS), dump_list([str(t) for t in r["turn_ids"]])])


def _import_history(conn: sqlite3.Connection, recs: list[dict[str, Any]]) -> None:
    entry_ids = list(dict.fromkeys(r["entry_id"] for r in recs))
    found = set(existing_ids(conn, "entries", entry_ids))
    missing = [i for i in entry_ids if i not in found]
    if missing:
        raise InputError(f"import: history of unknown entries: {', '.join(missing[:10])}")
    keep_id = _free(conn, "history", "id", [r.get("id") for r in recs])
    columns = HISTORY_COLUMNS if keep_id else HISTORY_COLUMNS[1:]
    sql = f"INSERT INTO history ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    for r in recs:
        conn.execute(sql, _values(r, columns))
