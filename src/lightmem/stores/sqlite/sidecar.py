"""The files of a store's ANN sidecar folder (``<file>.ann/``), one set per large owner.

For an owner (``stem``: a digest of its key) the folder holds ``<stem>.json``, the metadata
that vouches for the rest: the owner, the index parameters, the revision and file name of
its HNSW graph (``<stem>-<rev>.usearch``) and, optionally, of a snapshot of its entry list
(``<stem>-<rev>.slots.npz``). Every file is written under a temporary name and renamed;
the metadata is renamed last, so whatever a crash leaves, the metadata names complete
files. A graph or snapshot at revision ``r`` is brought up to date from the change feed
(``search_index`` rows of the owner with ``rev > r``); one that cannot be read, was made
with other parameters or is newer than the store is ignored and rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

#: A temporary file older than this is a leftover of a killed writer.
STALE_TMP_S = 3600.0


def stem(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class Meta:
    owner: str
    params: dict[str, Any]
    rev: int  # of the graph
    graph: str  # file name in the folder
    removed: int = 0  # removals merged into the graph since it was built
    slots_rev: int = -1
    slots: str | None = None


def meta_path(folder: Path, key: str) -> Path:
    return folder / f"{stem(key)}.json"


def read_meta(folder: Path, key: str) -> Meta | None:
    """The owner's metadata, or None when it is missing, unreadable or another owner's."""
    try:
        raw = json.loads(meta_path(folder, key).read_text(encoding="utf-8"))
        if raw.get("owner") != key:
            return None
        return Meta(
            owner=key,
            params=dict(raw["params"]),
            rev=int(raw["rev"]),
            # format 1 sidecars had one graph file per owner
            graph=str(raw.get("graph") or f"{stem(key)}.usearch"),
            removed=int(raw.get("removed", 0)),
            slots_rev=int(raw.get("slots_rev", -1)),
            slots=raw.get("slots"),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_meta(folder: Path, meta: Meta) -> None:
    """Rename the new metadata into place, then remove the owner's files it no longer names."""
    folder.mkdir(parents=True, exist_ok=True)
    path = meta_path(folder, meta.owner)
    tmp = path.with_suffix(".json.tmp")
    body = {
        "owner": meta.owner,
        "params": meta.params,
        "rev": meta.rev,
        "graph": meta.graph,
        "removed": meta.removed,
        "slots_rev": meta.slots_rev,
        "slots": meta.slots,
    }
    tmp.write_text(json.dumps(body) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    keep = {meta.graph, meta.slots, path.name}
    for old in folder.glob(f"{stem(meta.owner)}*"):
        if old.name not in keep and not old.name.endswith(".tmp"):
            with contextlib.suppress(OSError):
                old.unlink()


def new_file(folder: Path, key: str, rev: int, suffix: str) -> tuple[Path, Path]:
    """(temporary path, final path) of a new file of the owner at ``rev``."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{stem(key)}-{rev}-{time.time_ns() % 10**9}{suffix}"
    return final.with_name(final.name + ".tmp"), final


def publish(tmp: Path, final: Path) -> None:
    os.chmod(tmp, 0o600)
    os.replace(tmp, final)


def remove(folder: Path, key: str) -> int:
    """Delete the owner's sidecar (metadata first); the count of files removed."""
    removed = 0
    path = meta_path(folder, key)
    for p in [path, *folder.glob(f"{stem(key)}*")]:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
            removed += 1
    return removed


def owners(folder: Path) -> list[str]:
    """The owner keys that have metadata in the folder."""
    out: list[str] = []
    for path in folder.glob("*.json"):
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(raw, dict) and isinstance(raw.get("owner"), str):
            out.append(raw["owner"])
    return out


def remove_leftovers(folder: Path) -> int:
    """Temporary files of killed writers, and files no metadata names (older than
    :data:`STALE_TMP_S`: a writer in another process may be about to publish them)."""
    named: set[str] = set()
    for path in folder.glob("*.json"):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            raw = json.loads(path.read_text(encoding="utf-8"))
            named.update({path.name, str(raw.get("graph")), str(raw.get("slots"))})
            named.add(f"{path.stem}.usearch")  # format 1
    removed = 0
    now = time.time()
    for path in folder.iterdir():
        if path.name in named or not path.is_file():
            continue
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > STALE_TMP_S:
                path.unlink()
                removed += 1
    return removed


# -- entry-list snapshots ---------------------------------------------------------------------
_SEP = "\x00"


def save_slots(
    tmp: Path,
    pks: npt.NDArray[np.int64],
    ids: list[str],
    runs: list[str | None],
    times: npt.NDArray[np.datetime64],
    has_vector: npt.NDArray[np.bool_],
) -> bool:
    """Write an entry list; False (nothing written) when an id or run holds a NUL."""
    if any(_SEP in i for i in ids) or any(r is not None and _SEP in r for r in runs):
        return False
    run_none = np.fromiter((r is None for r in runs), dtype=bool, count=len(runs))
    with tmp.open("wb") as f:
        np.savez(
            f,
            pks=pks,
            ids=np.frombuffer(_SEP.join(ids).encode(), dtype=np.uint8),
            runs=np.frombuffer(_SEP.join(r or "" for r in runs).encode(), dtype=np.uint8),
            run_none=run_none,
            times=times.astype("datetime64[us]").view(np.int64),
            has_vector=has_vector,
        )
    return True


def load_slots(
    path: Path,
) -> (
    tuple[
        npt.NDArray[np.int64],
        list[str],
        list[str | None],
        npt.NDArray[np.datetime64],
        npt.NDArray[np.bool_],
    ]
    | None
):
    """An entry list written by :func:`save_slots`; None when it cannot be read."""
    try:
        with np.load(path, allow_pickle=False) as z:
            pks = z["pks"].astype(np.int64)
            ids_blob = z["ids"].tobytes().decode()
            runs_blob = z["runs"].tobytes().decode()
            run_none = z["run_none"].astype(bool)
            times = z["times"].astype(np.int64).view("datetime64[us]")
            has_vector = z["has_vector"].astype(bool)
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
        return None  # torn or foreign: the owner is loaded from the store
    n = pks.size
    ids = ids_blob.split(_SEP) if n else []
    runs_raw = runs_blob.split(_SEP) if n else []
    if not (len(ids) == len(runs_raw) == run_none.size == times.size == has_vector.size == n):
        return None
    runs = [None if none else r for r, none in zip(runs_raw, run_none.tolist(), strict=True)]
    return pks, ids, runs, times, has_vector
