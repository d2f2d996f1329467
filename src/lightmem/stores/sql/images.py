"""The vectors of images shared in turns, by the image embedder (any dimension: not the
text embedder's, so kept as little-endian float32 bytes rather than in a vector column).
A row goes with its turn (foreign key), so a purge or ``delete_all`` takes it along."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from lightmem.embedders.base import Vectors
from lightmem.errors import InputError, NotFoundError, StorageError
from lightmem.stores.sql.codec import load_images, scope_where, vector_to_b64
from lightmem.stores.sql.dialect import Conn, Dialect
from lightmem.stores.sql.turns import rows_by_id
from lightmem.types import Scope

ImageKey = tuple[str, int]  # (turn id, the image's position in the turn)


def as_images(vectors: Vectors, rows: int) -> Any:
    arr = np.asarray(vectors, dtype="<f4")
    if arr.ndim != 2 or arr.shape[0] != rows or arr.shape[1] < 1:
        raise StorageError(f"set_image_vectors: expected {rows} vector(s), got shape {arr.shape}")
    return arr


def set_image_vectors(
    c: Conn, d: Dialect, keys: list[ImageKey], model: str, vectors: Vectors
) -> None:
    """Store (or replace) the vectors of these images of the turns, by ``model``."""
    arr = as_images(vectors, len(keys))
    turns = rows_by_id(c, d, "turns", [t for t, _ in keys], "id, user_id, agent_id, images")
    rows = []
    for (turn_id, n), vector in zip(keys, arr, strict=True):
        row = turns.get(turn_id)
        if row is None:
            raise NotFoundError(f"no turn with id {turn_id!r}")
        images = load_images(row["images"])
        if not 0 <= n < len(images):
            raise NotFoundError(f"turn {turn_id!r} has no image {n}")
        rows.append(
            (
                turn_id,
                n,
                row["user_id"],
                row["agent_id"],
                images[n].url,
                model,
                np.ascontiguousarray(vector).tobytes(),
            )
        )
    for turn_id, n, *_ in rows:
        c.execute("DELETE FROM image_vectors WHERE turn_id = ? AND n = ?", (turn_id, n))
    c.executemany(
        """INSERT INTO image_vectors (turn_id, n, user_id, agent_id, url, model, vector)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        rows,
    )


def image_vectors(c: Conn, owner: Scope, model: str) -> dict[ImageKey, Any]:
    """The owner's image vectors by ``model``: ``(turn_id, n) -> float32 array``."""
    where, params = scope_where(owner.owner)
    sql = f"SELECT turn_id, n, vector FROM image_vectors WHERE {where} AND model = ?"
    return {
        (r["turn_id"], int(r["n"])): np.frombuffer(bytes(r["vector"]), dtype="<f4").copy()
        for r in c.execute(sql, [*params, model]).fetchall()
    }


def count_image_vectors(c: Conn, owner: Scope) -> int:
    where, params = scope_where(owner.owner)
    sql = f"SELECT count(*) AS n FROM image_vectors WHERE {where}"
    return int(c.execute(sql, params).fetchone()["n"])


def export_image_vectors(c: Conn, d: Dialect, scope: Scope | None) -> list[dict[str, Any]]:
    """Export records ``{"kind": "image_vector", "turn_id", "n", "model", "vector"}``."""
    where, params = scope_where(scope, "t") if scope is not None else ("1 = 1", [])
    sql = f"""SELECT i.turn_id, i.n, i.model, i.vector FROM image_vectors i
              JOIN turns t ON t.id = i.turn_id WHERE {where}
              ORDER BY t.seq, i.n, i.model{d.bytewise}"""
    return [
        {
            "kind": "image_vector",
            "turn_id": r["turn_id"],
            "n": int(r["n"]),
            "model": r["model"],
            "vector": vector_to_b64(np.frombuffer(bytes(r["vector"]), dtype="<f4")),
        }
        for r in c.execute(sql, params).fetchall()
    ]


def import_image_vectors(c: Conn, d: Dialect, recs: list[dict[str, Any]]) -> None:
    for r in recs:
        data = base64.b64decode(str(r["vector"]).encode("ascii"), validate=True)
        if not data or len(data) % 4:
            raise InputError(f"import: image vector of turn {r['turn_id']!r} is not float32")
        vector = np.frombuffer(data, dtype="<f4").reshape(1, -1)
        set_image_vectors(c, d, [(str(r["turn_id"]), int(r["n"]))], str(r["model"]), vector)
