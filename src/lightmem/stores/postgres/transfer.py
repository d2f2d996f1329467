"""Export and import: the SQLite store's record format, exactly.

Kinds, fields, order and encodings are those of ``lightmem.stores.sqlite.transfer`` (times
as ISO strings, vectors as base64 of little-endian float32, ``consolidated`` as 0/1), so an
export from either backend imports into the other and exports again unchanged. Turn ``seq``
and history ``id`` are kept when free and renumbered (in their exported order) when the
target store already uses any of them; the sequences are moved past kept values.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from lightmem.errors import InputError
from lightmem.stores.postgres.codec import (
    dump_list,
    from_le_bytes,
    from_vector_send,
    naive_utc,
    scope_where,
    to_le_bytes,
    vector_literal,
)
from lightmem.stores.postgres.turns import check_new_ids, existing_ids
from lightmem.stores.sqlite.codec import b64_to_blob, blob_to_b64, from_iso_required, to_iso
from lightmem.stores.sqlite.transfer import (
    BATCH_COLUMNS,
    CALL_COLUMNS,
    ENTRY_COLUMNS,
    ENTRY_LISTS,
    HISTORY_COLUMNS,
    KINDS,
    TIME_COLUMNS,
    TURN_COLUMNS,
)
from lightmem.types import Scope

Cursor = Any  # psycopg.Cursor[dict[str, Any]]

_QUEUED = "EXISTS (SELECT 1 FROM consolidation_queue q WHERE q.entry_pk = {}.pk)"


def _export_value(column: str, value: Any) -> Any:
    return to_iso(value) if column in TIME_COLUMNS else value


def _b64(data: bytes | None) -> str | None:
    vector = from_vector_send(data)
    return None if vector is None else blob_to_b64(to_le_bytes(vector))


def export_records(cur: Cursor, scope: Scope | None) -> list[dict[str, Any]]:
    def where(alias: str) -> tuple[str, list[Any]]:
        return scope_where(scope, alias) if scope is not None else ("TRUE", [])

    out: list[dict[str, Any]] = []
    w, p = where("t")
    sql = f"SELECT t.*, vector_send(t.vector) AS vbytes FROM turns t WHERE {w} ORDER BY t.seq"
    for r in cur.execute(sql, p).fetchall():
        rec = {c: _export_value(c, r[c]) for c in TURN_COLUMNS}
        out.append({"kind": "turn", **rec, "vector": _b64(r["vbytes"])})
    w, p = where("e")
    sql = f"""SELECT e.*, vector_send(e.vector) AS vbytes, {_QUEUED.format("e")} AS queued
              FROM entries e WHERE {w} ORDER BY e.pk"""
    for r in cur.execute(sql, p).fetchall():
        rec = {c: _export_value(c, r[c]) for c in ENTRY_COLUMNS if c != "consolidated"}
        rec["consolidated"] = 0 if r["queued"] else 1
        rec = {c: rec[c] for c in ENTRY_COLUMNS}  # the SQLite store's key order
        rec.update({c: [str(x) for x in r[c]] for c in ENTRY_LISTS})
        out.append({"kind": "entry", **rec, "vector": _b64(r["vbytes"])})
    w, p = where("b")
    for r in cur.execute(f"SELECT b.* FROM batches b WHERE {w} ORDER BY b.pk", p).fetchall():
        rec = {c: _export_value(c, r[c]) for c in BATCH_COLUMNS}
        out.append({"kind": "batch", **rec, "turn_ids": [str(t) for t in r["turn_ids"]]})
    w, p = where("e")
    sql = f"SELECT h.* FROM history h JOIN entries e ON e.id = h.entry_id WHERE {w} ORDER BY h.id"
    for r in cur.execute(sql, p).fetchall():
        out.append({"kind": "history", **{c: _export_value(c, r[c]) for c in HISTORY_COLUMNS}})
    ws, ps = where("s")
    sql = f"""SELECT p.target_id, p.source_id FROM consolidation_pairs p
              JOIN entries e ON e.id = p.target_id JOIN entries s ON s.id = p.source_id
              WHERE {w} AND {ws}
              ORDER BY p.target_id COLLATE "C", p.source_id COLLATE "C" """
    for r in cur.execute(sql, p + ps).fetchall():
        out.append({"kind": "pair", "target_id": r["target_id"], "source_id": r["source_id"]})
    if scope is None:
        for r in cur.execute("SELECT * FROM llm_calls ORDER BY id").fetchall():
            rec = {c: _export_value(c, r[c]) for c in CALL_COLUMNS}
            out.append({"kind": "llm_call", **rec, "ok": bool(r["ok"])})
    return out


def import_records(cur: Cursor, records: Iterable[dict[str, Any]], dim: int) -> int:
    by_kind: dict[str, list[dict[str, Any]]] = {k: [] for k in KINDS}
    count = 0
    for n, rec in enumerate(records):
        kind = rec.get("kind") if isinstance(rec, dict) else None
        if kind not in by_kind:
            raise InputError(f"import: record {n} has no known kind (one of {', '.join(KINDS)})")
        by_kind[str(kind)].append(rec)
        count += 1
    # Kept seq / history ids must stay free until commit and the sequences must move past
    # them: no other writer adds turns or history meanwhile (readers are not blocked).
    cur.execute("LOCK TABLE turns, history IN SHARE ROW EXCLUSIVE MODE")
    try:
        _import_turns(cur, by_kind["turn"], dim)
        _import_entries(cur, by_kind["entry"], dim)
        _import_batches(cur, by_kind["batch"])
        _import_history(cur, by_kind["history"])
        cur.executemany(
            "INSERT INTO consolidation_pairs (target_id, source_id) VALUES (%s, %s)",
            [(r["target_id"], r["source_id"]) for r in by_kind["pair"]],
        )
        cur.executemany(
            f"INSERT INTO llm_calls ({', '.join(CALL_COLUMNS)}) VALUES (%s, %s, %s, %s, %s, %s)",
            [_values(r, CALL_COLUMNS) for r in by_kind["llm_call"]],
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"import: a record is malformed: {type(exc).__name__}: {exc}") from exc
    return count


def _values(rec: dict[str, Any], columns: Iterable[str]) -> list[Any]:
    out: list[Any] = []
    for c in columns:
        v = rec[c]
        if c in TIME_COLUMNS and v is not None:
            v = naive_utc(from_iso_required(str(v)))
        elif c == "ok":
            v = bool(v)
        out.append(v)
    return out


def _vector(text: str | None, dim: int, what: str) -> str | None:
    blob = b64_to_blob(text, dim, what)
    return None if blob is None else vector_literal(from_le_bytes(blob))


def _keep(cur: Cursor, table: str, column: str, values: list[Any]) -> bool:
    """True if every value is an int, none repeats, and none is used in ``table.column``."""
    if not all(type(v) is int for v in values) or len(set(values)) != len(values):
        return False
    sql = f"SELECT count(*) AS n FROM {table} WHERE {column} = ANY(%s)"
    return bool(values) and int(cur.execute(sql, (values,)).fetchone()["n"]) == 0


def _advance(cur: Cursor, table: str, column: str, values: list[int]) -> None:
    """Move the identity sequence of ``table.column`` past ``values`` (never back)."""
    cur.execute(
        f"""SELECT setval(s.seq, %s) FROM (
                SELECT pg_get_serial_sequence('{table}', '{column}')::regclass AS seq) AS s
            WHERE %s > COALESCE(pg_sequence_last_value(s.seq), 0)""",
        (max(values), max(values)),
    )


def _insert(table: str, columns: tuple[str, ...], casts: dict[str, str]) -> str:
    marks = ", ".join(f"%s{casts.get(c, '')}" for c in columns)
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"


def _import_turns(cur: Cursor, recs: list[dict[str, Any]], dim: int) -> None:
    check_new_ids(cur, "turns", "turn", [r["id"] for r in recs])
    seqs = [r.get("seq") for r in recs]
    keep = _keep(cur, "turns", "seq", seqs)
    columns = (*(TURN_COLUMNS if keep else TURN_COLUMNS[1:]), "vector")
    cur.executemany(
        _insert("turns", columns, {"vector": "::vector"}),
        [[*_values(r, columns[:-1]), _vector(r.get("vector"), dim, "import turn")] for r in recs],
    )
    if keep:
        _advance(cur, "turns", "seq", [int(s) for s in seqs if s is not None])


def _import_entries(cur: Cursor, recs: list[dict[str, Any]], dim: int) -> None:
    ids = [r["id"] for r in recs]
    check_new_ids(cur, "entries", "entry", ids)
    plain = tuple(c for c in ENTRY_COLUMNS if c != "consolidated")
    columns = (*plain, *ENTRY_LISTS, "vector")
    casts = {c: "::jsonb" for c in ENTRY_LISTS} | {"vector": "::vector"}
    rows = []
    for r in recs:
        lists = [dump_list([str(x) for x in r.get(c) or []]) for c in ENTRY_LISTS]
        rows.append([*_values(r, plain), *lists, _vector(r.get("vector"), dim, "import entry")])
    cur.executemany(_insert("entries", columns, casts), rows)
    queued = [r["id"] for r in recs if not r.get("consolidated")]
    cur.execute(
        """INSERT INTO consolidation_queue (entry_pk)
           SELECT pk FROM entries WHERE id = ANY(%s) ORDER BY pk""",
        (queued,),
    )


def _import_batches(cur: Cursor, recs: list[dict[str, Any]]) -> None:
    check_new_ids(cur, "batches", "batch", [r["id"] for r in recs])
    columns = (*BATCH_COLUMNS, "turn_ids")
    cur.executemany(
        _insert("batches", columns, {"turn_ids": "::jsonb"}),
        [[*_values(r, BATCH_COLUMNS), dump_list([str(t) for t in r["turn_ids"]])] for r in recs],
    )


def _import_history(cur: Cursor, recs: list[dict[str, Any]]) -> None:
    entry_ids = list(dict.fromkeys(r["entry_id"] for r in recs))
    found = set(existing_ids(cur, "entries", entry_ids))
    missing = [i for i in entry_ids if i not in found]
    if missing:
        raise InputError(f"import: history of unknown entries: {', '.join(missing[:10])}")
    ids = [r.get("id") for r in recs]
    keep = _keep(cur, "history", "id", ids)
    columns = HISTORY_COLUMNS if keep else HISTORY_COLUMNS[1:]
    cur.executemany(_insert("history", columns, {}), [_values(r, columns) for r in recs])
    if keep:
        _advance(cur, "history", "id", [int(i) for i in ids if i is not None])
