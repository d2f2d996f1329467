"""Shared pools in SQL: the ``grants`` table. A grant lets a grantee scope read, or read and
write, the memories of a pool (an owner scope); revoking deletes the row, so the next call
is refused."""

from __future__ import annotations

import json
from datetime import datetime

from lightmem.stores.sql.codec import load_time
from lightmem.stores.sql.dialect import Conn, Dialect
from lightmem.types import AccessLevel, PoolGrant, Scope

_COLUMNS = "pool_user, pool_agent, grantee_user, grantee_agent, level, created_at"


def key(scope: Scope) -> str:
    return json.dumps([scope.user_id, scope.agent_id])


def set_grant(
    c: Conn, d: Dialect, pool: Scope, grantee: Scope, level: AccessLevel | None, now: datetime
) -> bool:
    """Grant ``level`` (None: revoke). Returns whether a grant existed before."""
    existed = c.execute(
        "SELECT 1 FROM grants WHERE pool_key = ? AND grantee_key = ?", (key(pool), key(grantee))
    ).fetchone()
    c.execute(
        "DELETE FROM grants WHERE pool_key = ? AND grantee_key = ?", (key(pool), key(grantee))
    )
    if level is not None:
        c.execute(
            f"""INSERT INTO grants (pool_key, grantee_key, {_COLUMNS})
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
            (
                key(pool),
                key(grantee),
                pool.user_id,
                pool.agent_id,
                grantee.user_id,
                grantee.agent_id,
                level,
                d.dump_time(now),
            ),
        )
    return existed is not None


def list_grants(c: Conn, pool: Scope | None, grantee: Scope | None) -> list[PoolGrant]:
    """Grants on ``pool``, or to ``grantee`` (a user-wide grantee covers its agents: the
    grants to ``(user, None)`` are listed for ``(user, agent)`` too)."""
    clauses, params = [], []
    if pool is not None:
        clauses.append("pool_key = ?")
        params.append(key(pool))
    if grantee is not None:
        keys = [key(grantee.owner)]
        if grantee.user_id is not None and grantee.agent_id is not None:
            keys.append(key(Scope(grantee.user_id, None)))
        clauses.append("(" + " OR ".join("grantee_key = ?" for _ in keys) + ")")
        params += keys
    where = " AND ".join(clauses) or "1 = 1"
    sql = f"SELECT {_COLUMNS} FROM grants WHERE {where} ORDER BY pool_key, grantee_key"
    return [
        PoolGrant(
            Scope(r["pool_user"], r["pool_agent"]),
            Scope(r["grantee_user"], r["grantee_agent"]),
            r["level"],
            load_time(r["created_at"]),
        )
        for r in c.execute(sql, params).fetchall()
    ]


def drop_grants(c: Conn, scope: Scope) -> None:
    """A purged scope's grants go, given and received."""
    k = key(scope.owner)
    c.execute("DELETE FROM grants WHERE pool_key = ? OR grantee_key = ?", (k, k))
