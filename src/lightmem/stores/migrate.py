"""Move a whole store to another backend (SQLite <-> PostgreSQL, or between two of a kind).

:func:`migrate` reads the source (``export_records``, chunk by chunk: run it while nothing
writes to the source), writes it into an
empty destination in one transaction (``import_records``: all or nothing), copies every
meta value the library keeps outside the records (``meta_items``), and then exports the
destination and checks that it holds exactly the source's records: same ids, texts, vectors
(bit for bit), times, stages, history ids, turn seqs, pairs and LLM calls. Into an empty
store nothing is renumbered, so any difference is an error, never a silent loss.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from lightmem.errors import StorageError
from lightmem.stores.base import Store
from lightmem.stores.sql.transfer import KINDS


def migrate(src: Store, dst: Store, *, verify: bool = True) -> dict[str, int]:
    """Copy every record of the open store ``src`` into the open, empty store ``dst``.

    Returns the number of records copied by kind (``turn``, ``entry``, ``history``,
    ``batch``, ``pair``, ``llm_call``), ``meta``, ``api_key`` and ``grant``. Raises
    :class:`StorageError` if ``dst`` is not empty or if, with ``verify``, the copy differs
    from the source.
    """
    if (
        next(iter(dst.export_records()), None) is not None
        or dst.list_api_keys()
        or dst.list_grants()
    ):
        raise StorageError(
            "migrate: the destination store is not empty; migrate into a new store "
            "(or use export/import to merge stores)"
        )
    records = list(src.export_records())
    keys, grants = src.list_api_keys(), src.list_grants()
    dst.import_records(records)
    # Who may use the store travels too: API keys (their hashes; a key itself is never
    # stored) and the grants on shared pools. Without them a server on the new store would
    # refuse every client, and every sharing would be gone.
    for api_key in keys:
        dst.add_api_key(api_key)
    for grant in grants:
        dst.set_grant(grant.pool, grant.grantee, grant.level, created_at=grant.created_at)
    # Export records do not hold the meta values the library keeps beside them (the embedder
    # that built the vectors, counters, default TTLs, recorded failures): copy them all.
    meta = src.meta_items()
    for key, value in meta.items():
        dst.set_meta(key, value)
    if verify:
        _check_same(records, list(dst.export_records()))
        if dst.list_api_keys() != keys or dst.list_grants() != grants:
            raise StorageError(
                "migrate: the destination's API keys or grants differ from the source's "
                "after the copy; the destination is not a faithful copy, do not use it"
            )
        copied = dst.meta_items()
        if any(copied.get(key) != value for key, value in meta.items()):
            raise StorageError(
                "migrate: the destination's meta values differ from the source's after the "
                "copy; the destination is not a faithful copy, do not use it"
            )
    counts = Counter(str(r["kind"]) for r in records)
    return {
        **{kind: counts.get(kind, 0) for kind in KINDS},
        "meta": len(meta),
        "api_key": len(keys),
        "grant": len(grants),
    }


def _check_same(expected: list[dict[str, Any]], got: list[dict[str, Any]]) -> None:
    if got == expected:
        return
    if len(got) != len(expected):
        raise StorageError(
            f"migrate: the destination holds {len(got)} records after the copy, the source "
            f"{len(expected)}; the destination is incomplete, do not use it"
        )
    for n, (want, have) in enumerate(zip(expected, got, strict=True)):
        if want != have:
            fields = sorted(k for k in set(want) | set(have) if want.get(k) != have.get(k))
            raise StorageError(
                f"migrate: record {n} ({want.get('kind')} {want.get('id', '')!s}) differs "
                f"after the copy in {', '.join(fields)}; the destination is not a faithful "
                f"copy, do not use it"
            )
