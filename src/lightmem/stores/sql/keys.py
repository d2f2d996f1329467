"""API keys and idempotency keys, in the store's own database: every change is one
transaction, so concurrent ``keys create`` / ``keys revoke`` never lose a key or keep a
revoked one, and a retried ``add`` with the same idempotency key stores its turns once."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from datetime import datetime
from typing import Any

from lightmem.errors import ConflictError
from lightmem.stores.sql import turns
from lightmem.stores.sql.dialect import Conn, Dialect
from lightmem.types import Scope, StoredKey, Turn

#: The tables, the same SQL in every backend (migration 3).
SCHEMA = [
    """CREATE TABLE api_keys (
        name TEXT PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        admin INTEGER NOT NULL,
        grants TEXT NOT NULL,
        created_at TEXT NOT NULL)""",
    """CREATE TABLE idempotency_keys (
        owner TEXT NOT NULL,
        key TEXT NOT NULL,
        digest TEXT NOT NULL,
        turn_ids TEXT NOT NULL,
        created_at TEXT NOT NULL,
        PRIMARY KEY (owner, key))""",
]
_KEY_FIELDS = "name, sha256, admin, grants, created_at"
#: The meta key of the salt that keys the stored digests of idempotent requests.
SALT_META = "idempotency_salt"


def _key(row: Any) -> StoredKey:
    grants = tuple((g[0], g[1]) for g in json.loads(row["grants"]))
    return StoredKey(row["name"], row["sha256"], bool(row["admin"]), grants, row["created_at"])


def list_keys(c: Conn) -> list[StoredKey]:
    rows = c.execute(f"SELECT {_KEY_FIELDS} FROM api_keys ORDER BY created_at, name").fetchall()
    return [_key(r) for r in rows]


def find_key(c: Conn, sha256: str) -> StoredKey | None:
    row = c.execute(f"SELECT {_KEY_FIELDS} FROM api_keys WHERE sha256 = ?", (sha256,)).fetchone()
    return None if row is None else _key(row)


def add_key(c: Conn, key: StoredKey) -> None:
    grants = json.dumps([list(g) for g in key.grants])
    cur = c.execute(
        f"INSERT INTO api_keys ({_KEY_FIELDS}) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (key.name, key.sha256, int(key.admin), grants, key.created_at),
    )
    if cur.rowcount != 1:
        raise ConflictError(
            f"an API key named {key.name!r} already exists; revoke it or pick another"
        )


def delete_key(c: Conn, name: str) -> bool:
    return bool(c.execute("DELETE FROM api_keys WHERE name = ?", (name,)).rowcount)


def add_turns_once(
    c: Conn,
    d: Dialect,
    new: list[Turn],
    now: datetime,
    owner: Scope,
    key: str,
    digest: str,
) -> tuple[list[Turn], bool]:
    who = json.dumps([owner.user_id, owner.agent_id])
    keyed = _keyed(c, who, key, digest)
    # Claim the key first: a concurrent writer with the same key waits on this row, then
    # finds it taken and reads what the first one stored.
    claimed = c.execute(
        """INSERT INTO idempotency_keys (owner, key, digest, turn_ids, created_at)
           VALUES (?, ?, ?, '[]', ?) ON CONFLICT DO NOTHING""",
        (who, key, keyed, now.isoformat()),
    ).rowcount
    if claimed == 1:
        saved = turns.add_turns(c, d, new, now)
        c.execute(
            "UPDATE idempotency_keys SET turn_ids = ? WHERE owner = ? AND key = ?",
            (json.dumps([t.id for t in saved]), who, key),
        )
        return saved, False
    row = c.execute(
        "SELECT digest, turn_ids FROM idempotency_keys WHERE owner = ? AND key = ?", (who, key)
    ).fetchone()
    if row["digest"] not in (keyed, digest):  # a plain digest: stored before it was keyed
        raise ConflictError(
            f"the idempotency key {key!r} was used for another request; use a new key for "
            f"new content"
        )
    return turns.get_turns(c, d, json.loads(row["turn_ids"])), True


def _keyed(c: Conn, who: str, key: str, digest: str) -> str:
    """The digest as stored: an HMAC under the store's own random salt (made by the first
    keyed add), so a row tells nothing of the request to whoever reads the file."""
    c.execute(
        "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING",
        (SALT_META, secrets.token_hex(32)),
    )
    salt = c.execute("SELECT value FROM meta WHERE key = ?", (SALT_META,)).fetchone()["value"]
    message = "\x1f".join((who, key, digest)).encode("utf-8")
    return hmac.new(bytes.fromhex(salt), message, hashlib.sha256).hexdigest()


def drop_idempotency_keys(c: Conn, owner: Scope, gone: set[str] | None = None) -> None:
    """Forget the owner's idempotency keys that stored one of the turns ``gone`` (None:
    every key of the owner): a key and its digest outlive no erased turn."""
    who = json.dumps([owner.user_id, owner.agent_id])
    rows = c.execute("SELECT key, turn_ids FROM idempotency_keys WHERE owner = ?", (who,))
    for row in rows.fetchall():
        if gone is None or set(json.loads(row["turn_ids"])) & gone:
            c.execute("DELETE FROM idempotency_keys WHERE owner = ? AND key = ?", (who, row["key"]))
