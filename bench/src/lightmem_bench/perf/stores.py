"""The performance benchmark's stores: built once through the public store API
(``add_entries`` in large batches) and reused by later runs while their recipe is the same.

A store lives in ``<cache>/perf-stores/<name>/`` in the :class:`~lightmem.Memory` layout
(``lightmem.sqlite3`` and ``config.json``), with ``bench.json`` written last: a folder
without it is a build that did not finish, and is built again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lightmem.engine.storedir import SQLITE_FILE
from lightmem.memory import Memory
from lightmem_bench.perf.data import Corpus, synthetic_entries
from lightmem_bench.perf.stats import disk_bytes

MARKER = "bench.json"
#: Version of the recipe below; a change rebuilds every cached store.
RECIPE = 1

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class StoreSpec:
    entries: int
    users: int
    noise: float
    seed: int
    corpus: str  # digest of the corpus texts and vectors' embedder

    @property
    def name(self) -> str:
        key = json.dumps({**asdict(self), "recipe": RECIPE}, sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:10]
        return f"n{self.entries}-u{self.users}-{digest}"


def corpus_key(corpus: Corpus, model_id: str) -> str:
    h = hashlib.sha256(model_id.encode())
    h.update("\n".join(corpus.texts).encode())
    return h.hexdigest()[:16]


def ensure_store(
    root: Path,
    spec: StoreSpec,
    corpus: Corpus,
    config: dict[str, Any],
    *,
    batch: int,
    rebuild: bool,
    progress: Progress | None,
) -> tuple[Path, dict[str, Any]]:
    """The store folder for ``spec`` and its build figures (``reused`` says if it was built
    by an earlier run, whose figures are then the ones reported)."""
    folder = root / "perf-stores" / spec.name
    marker = folder / MARKER
    if marker.is_file() and not rebuild:
        info = json.loads(marker.read_text(encoding="utf-8"))
        return folder, {**info["build"], "reused": True}
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    build = bulk_load(folder, spec, corpus, config, batch=batch, progress=progress)
    marker.write_text(
        json.dumps({"spec": asdict(spec), "recipe": RECIPE, "build": build}, indent=1) + "\n",
        encoding="utf-8",
    )
    return folder, {**build, "reused": False}


def bulk_load(
    folder: Path,
    spec: StoreSpec,
    corpus: Corpus,
    config: dict[str, Any],
    *,
    batch: int,
    progress: Progress | None,
) -> dict[str, Any]:
    """Insert ``spec.entries`` synthetic entries with ``Store.add_entries`` in batches."""
    memory = Memory(folder, config=config)
    insert_s = 0.0
    start = time.perf_counter()
    try:
        step = max(1, spec.entries // 10)
        done = 0
        for entries, vectors in synthetic_entries(
            corpus, spec.entries, users=spec.users, noise=spec.noise, seed=spec.seed, batch=batch
        ):
            t0 = time.perf_counter()
            memory.store.add_entries(entries, vectors, actor="import")
            insert_s += time.perf_counter() - t0
            before, done = done, done + len(entries)
            if progress is not None and done // step != before // step:
                progress(
                    f"  loaded {done:,}/{spec.entries:,} entries "
                    f"({done / max(insert_s, 1e-9):,.0f}/s in add_entries)"
                )
    finally:
        memory.close()
    total_s = time.perf_counter() - start
    return {
        "entries": spec.entries,
        "batch": batch,
        "seconds": round(total_s, 2),
        "add_entries_seconds": round(insert_s, 2),
        "entries_per_s": round(spec.entries / max(insert_s, 1e-9), 1),
        "bytes": disk_bytes(folder / SQLITE_FILE),
    }


def store_bytes(folder: Path) -> dict[str, Any]:
    """Bytes of the SQLite file (with WAL) and of any sidecar folder beside it."""
    db = folder / SQLITE_FILE
    sidecars = [p for p in folder.iterdir() if p.is_dir()]
    return {
        "sqlite_bytes": disk_bytes(db),
        "sidecar_bytes": sum(disk_bytes(p) for p in sidecars),
    }
