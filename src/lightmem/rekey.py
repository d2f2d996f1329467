"""Ids of a scoped import (a REST or MCP key that is no admin): the store gives the rows ids
of its own, so that an import reveals nothing about ids outside the key's scopes.

A key imports records whose ids it chose. If the store kept an id when it is free and
refused it when another tenant holds it, the answer (or the id the row ends up with) would
tell whether that tenant's row exists. So every turn, entry and batch id of a scoped import
is replaced by one derived from the row's owner and the id in the file, whether the file's
id is free or not; the links between the rows are rewritten to match, turn ``seq`` and
history ``id`` are left to the store. Importing the same file again into the same scope
derives the same ids: a conflict, as before. Pure functions over plain records.
"""

from __future__ import annotations

import uuid
from typing import Any

#: The record kinds whose ``id`` is a row id another record may link to.
ROW_KINDS = ("turn", "entry", "batch")
_NAMESPACE = uuid.UUID("6f1c2a4e-5b7d-4c3e-9a10-2f8e1d0c7b55")


def derived_id(user_id: str | None, agent_id: str | None, kind: str, given: str) -> str:
    """The id a scoped import gives the row ``given`` of ``kind`` in that owner's scope."""
    name = "\x1f".join((user_id or "", agent_id or "", kind, given))
    return uuid.uuid5(_NAMESPACE, name).hex


def rekey(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``records`` with derived row ids and every link rewritten. A link to a row
    that is not in the import is left as it is (the caller has refused those already)."""
    ids: dict[tuple[str, str], str] = {}
    for rec in records:
        if rec.get("kind") in ROW_KINDS and isinstance(rec.get("id"), str):
            kind, given = str(rec["kind"]), str(rec["id"])
            ids[kind, given] = derived_id(rec.get("user_id"), rec.get("agent_id"), kind, given)
    return [_rekeyed(dict(rec), ids) for rec in records]


def _rekeyed(rec: dict[str, Any], ids: dict[tuple[str, str], str]) -> dict[str, Any]:
    def one(kind: str, value: Any) -> Any:
        return ids.get((kind, value), value) if isinstance(value, str) else value

    def many(kind: str, values: Any) -> Any:
        return [one(kind, v) for v in values] if isinstance(values, list) else values

    kind = rec.get("kind")
    if kind in ROW_KINDS:
        rec["id"] = one(str(kind), rec.get("id"))
    if kind == "turn":
        rec["seq"] = None  # numbered by the store
        rec["batch_id"] = one("batch", rec.get("batch_id"))
    elif kind == "entry":
        rec["sources"] = many("turn", rec.get("sources"))
        rec["meta"] = _meta(rec.get("meta"), lambda v: one("entry", v))
        rec["superseded_by"] = one("entry", rec.get("superseded_by"))
    elif kind == "batch":
        rec["turn_ids"] = many("turn", rec.get("turn_ids"))
    elif kind == "history":
        rec["id"] = None  # numbered by the store
        rec["entry_id"] = one("entry", rec.get("entry_id"))
    elif kind == "pair":
        rec["target_id"] = one("entry", rec.get("target_id"))
        rec["source_id"] = one("entry", rec.get("source_id"))
    elif kind == "image_vector":
        rec["turn_id"] = one("turn", rec.get("turn_id"))
    return rec


def _meta(meta: Any, entry: Any) -> Any:
    """An event's ``meta`` with its ``facts`` and its ``links``' ``to`` rewritten."""
    if not isinstance(meta, dict):
        return meta
    out = dict(meta)
    if isinstance(out.get("facts"), list):
        out["facts"] = [entry(f) for f in out["facts"]]
    if isinstance(out.get("links"), list):
        out["links"] = [
            {**x, "to": entry(x.get("to"))} if isinstance(x, dict) else x for x in out["links"]
        ]
    return out
