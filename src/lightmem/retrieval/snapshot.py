"""Owner-index snapshots: a large owner's search index written to a file when its store
closes, and read back at the owner's first search after the store opens again, then brought
up to date from the change log like any cached index. A reopened server's first search of a
user with a long history reads one file instead of decoding and indexing every row.

What keeps it safe:

* Only a store with a folder of its own has snapshots (SQLite: ``<path>.index/``), one file
  per owner, named by a digest of the owner, written under a temporary name and renamed,
  readable by its user alone. A file is read only when it and its folder belong to this
  process's user and no one else can write them, and the unpickler makes the index's own
  classes only: no other global can be named by a file.
* A file is used only when its format (a digest of the code of the classes it holds), the
  index settings, the owner and the store's change log agree: the change it was written at
  must still be in the log, as the same row. Anything else (a store restored from a backup,
  an upgrade, a damaged file) builds the index from the rows, as without a snapshot.
* Nothing erased lives on in one: an erasure (a purge, ``delete_all``) removes the owner's
  file at once; an index that applied an erasure since it was built is never written; a file
  whose owner has had an erasure since it was written (by any process) is removed unread.

Reading gives way to other requests in a server (:mod:`lightmem.giveway`): the file is read
in pieces of :data:`PIECE` items, a checkpoint between two; a BM25 index is a few flat
arrays (:meth:`~lightmem.retrieval.bm25.LiveBM25.freeze`), no object per posting.
"""

from __future__ import annotations

import gc
import hashlib
import logging
import mmap
import os
import pickle
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from lightmem import giveway
from lightmem.retrieval import bm25
from lightmem.retrieval.index import Grid, OwnerIndex
from lightmem.stores.base import Store
from lightmem.types import Scope

log = logging.getLogger(__name__)

MAGIC = b"LMIDX\x00\x01\n"
#: items of a dict or list pickled together (one piece: a few milliseconds to read)
PIECE = 256
#: bytes of an array pickled together
BLOCK_BYTES = 1 << 21
#: the index's fields that hold objects another field holds too: written as ids
_DERIVED = (
    *("row_turn", "memories", "summaries", "lock", "restore"),
    *("images", "image_turn", "image_urls"),
)


def _format() -> bytes:
    """A digest of the code of what a snapshot holds: another version reads none."""
    h = hashlib.sha256(MAGIC)
    here = Path(__file__).parent
    for path in (here / "index.py", here / "bm25.py", here.parent / "types.py", Path(__file__)):
        h.update(path.read_bytes())
    return h.digest()


_ALLOWED = {
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("collections", "Counter"),
    ("datetime", "datetime"),
    ("datetime", "date"),
    ("datetime", "timedelta"),
    ("datetime", "timezone"),
    ("numpy", "dtype"),
    ("numpy", "ndarray"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("lightmem.types", "Scope"),
    ("lightmem.types", "Turn"),
    ("lightmem.types", "Entry"),
    ("lightmem.types", "ImageRef"),
    ("lightmem.types", "EntryStatus"),
    ("lightmem.types", "TurnStage"),
    ("lightmem.retrieval.index", "Codes"),
    ("lightmem.retrieval.index", "Grid"),
    ("lightmem.retrieval.index", "IndexSettings"),
    ("lightmem.retrieval.bm25", "Frozen"),
}


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"a snapshot may not name {module}.{name}")
        return super().find_class(module, name)


class _Frames:
    """The pickles of a snapshot, one after another (each read by an unpickler of its own:
    pickles number their memo from 0; the stream is left right after the one read)."""

    def __init__(self, stream: mmap.mmap) -> None:
        self.stream = stream

    def next(self) -> Any:
        return _Unpickler(self.stream).load()


#: the format of the code this process loaded (read when it was imported, not when a file is
#: written: a process that runs while its files are upgraded writes the old format's digest)
FORMAT = _format()


_gc_lock = threading.Lock()
_gc_readers = 0  # snapshots being read now, by any thread
_gc_saved: tuple[int, int, int] = (0, 0, 0)


@contextmanager
def _young_collections_only() -> Iterator[None]:
    """No full collection of the heap while snapshots are read: each would walk every
    object made so far (a 50k owner's read took 1.3 s instead of 0.8). Young collections
    run as usual, a few hundred objects at a time: turning them off too left one collection
    of all the new objects at the end, a pause of tens of milliseconds for a server's other
    requests. A server runs no full collection on its own anyway
    (:mod:`lightmem.server.interpreter`)."""
    global _gc_readers, _gc_saved
    with _gc_lock:
        if _gc_readers == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(_gc_saved[0], _gc_saved[1], 1 << 30)
        _gc_readers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_readers -= 1
            if _gc_readers == 0:
                gc.set_threshold(*_gc_saved)


class Snapshots:
    """Writes and reads the snapshots of one store's owners of ``min_rows`` rows or more."""

    def __init__(self, store: Store, min_rows: int) -> None:
        self.store = store
        self.min_rows = min_rows
        self._saved: dict[Scope, int] = {}  # owner -> the change its file is at

    @property
    def enabled(self) -> bool:
        return self.min_rows > 0 and self.store.snapshot_folder is not None

    # -- writing ------------------------------------------------------------------------------
    def save(self, idx: OwnerIndex) -> bool:
        """Write the owner's snapshot, brought up to date first; whether one was written."""
        path = self.store.snapshot_path(idx.owner)
        if not self.enabled or path is None:
            return False
        with idx.lock:
            if idx.watermark < 0 or idx.grid.n + idx.mem.n < self.min_rows:
                return False
            idx.refresh(self.store)
            if idx.erased:
                path.unlink(missing_ok=True)
                return False
            if self._saved.get(idx.owner) == idx.watermark and path.exists():
                return False  # the file is this index already
            mark = self._mark(idx.owner, idx.watermark)
            if mark is None:
                return False
            header = {
                "owner": idx.owner,
                "settings": idx.s,
                "mark": mark,
                "erasures": len(self.store.erasures(idx.owner)),
            }
            frames = _frames(idx, header)
        folder = path.parent
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = folder / f".{path.name}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(MAGIC + FORMAT)
            for frame in frames:  # one pickle after another: one unpickler reads them all
                out.write(frame)
        os.replace(tmp, path)
        if self.store.last_change(idx.owner) != mark[0]:
            # the owner changed while the file was written (another process): it could
            # hold what that change erased
            path.unlink(missing_ok=True)
            return False
        self._saved[idx.owner] = mark[0]
        return True

    def _mark(self, owner: Scope, watermark: int) -> tuple[int, str, str] | None:
        """The change the index is at, as the log holds it (None: no longer in the log)."""
        changes = self.store.changes_since(owner, watermark - 1)
        if not changes or changes[0][0] != watermark:
            return None
        at, kind, row_id = changes[0]
        return (int(at), str(kind), str(row_id))

    # -- reading ------------------------------------------------------------------------------
    def restore(self, idx: OwnerIndex, store: Store) -> bool:
        """Take a valid snapshot's state into the empty ``idx``; whether there was one."""
        path = store.snapshot_path(idx.owner)
        if not self.enabled or path is None or not path.exists():
            return False
        if not _private(path):
            log.warning("an index snapshot that others can write was ignored: %s", path)
            return False
        try:
            state = self._read(path, idx)
        except (
            OSError,
            EOFError,
            ValueError,
            KeyError,
            IndexError,
            TypeError,
            AttributeError,
            pickle.UnpicklingError,
        ):
            log.warning("an unreadable index snapshot was removed: %s", path, exc_info=True)
            path.unlink(missing_ok=True)
            return False
        if state is None:
            path.unlink(missing_ok=True)
            return False
        idx.__dict__.update(state)
        self._saved[idx.owner] = idx.watermark
        return True

    def _read(self, path: Path, idx: OwnerIndex) -> dict[str, Any] | None:
        with path.open("rb") as raw, mmap.mmap(raw.fileno(), 0, access=mmap.ACCESS_READ) as data:
            return self._parse(data, idx)

    def _parse(self, data: mmap.mmap, idx: OwnerIndex) -> dict[str, Any] | None:
        """The state a mapped snapshot holds (its pages are read as the pickles are: no
        copy of the whole file first)."""
        if data.read(len(MAGIC) + len(FORMAT)) != MAGIC + FORMAT:
            return None  # another version's
        frames = _Frames(data)
        header = frames.next()
        if header["owner"] != idx.owner or header["settings"] != idx.s:
            return None
        at = header["mark"][0]
        if self._mark(idx.owner, at) != header["mark"]:
            return None  # the log moved on past it, or this is not the store it was made of
        if len(self.store.erasures(idx.owner)) != header["erasures"]:
            return None  # erased since: the file may hold what was erased
        with _young_collections_only():
            state = {name: _build(spec, frames) for name, spec in header["fields"].items()}
        if data.read(1):
            raise ValueError("an index snapshot with more than its header names")
        _link(state, idx.s.dim)
        return state


def _private(path: Path) -> bool:
    """The file and its folder are this user's, and no one else may write them."""
    for p in (path, path.parent):
        st = p.stat()
        if st.st_uid != os.geteuid() or st.st_mode & 0o022:
            return False
    return True


def _frames(idx: OwnerIndex, header: dict[str, Any]) -> list[bytes]:
    frames: list[bytes] = [b""]
    fields: dict[str, Any] = {}
    shared: dict[Scope, Scope] = {}  # one scope object per value: pickled once a piece
    for turn in idx.turns.values():
        turn.scope = shared.setdefault(turn.scope, turn.scope)
    for entry in idx.entries.values():
        entry.scope = shared.setdefault(entry.scope, entry.scope)
    state = {k: v for k, v in idx.__dict__.items() if k not in _DERIVED}
    state["memories"] = [e.id if e is not None else None for e in idx.memories]
    state["summaries"] = [e.id for e in idx.summaries]
    state["images_dirty"] = True
    for name, value in state.items():
        fields[name] = _plan(value, frames)
    frames[0] = pickle.dumps({**header, "fields": fields}, protocol=5)
    return frames


def _plan(value: Any, frames: list[bytes]) -> tuple[Any, ...]:
    """How ``value`` is written, in pieces that each read in a few milliseconds: a large
    dict or list by :data:`PIECE` items, a large array by blocks of :data:`BLOCK_BYTES`, a
    grid or a BM25 index by its fields, anything else whole; the pieces go to ``frames``."""

    def put(obj: Any) -> None:
        frames.append(pickle.dumps(obj, protocol=5))

    if isinstance(value, bm25.LiveBM25):  # flat arrays, made dictionaries on demand
        frozen, lengths, total, pairs, count = value.freeze()
        return ("bm25", _plan(frozen, frames), _plan(lengths, frames), total, pairs, count)
    if isinstance(value, (Grid, bm25.Frozen)):
        fields = {f: _plan(getattr(value, f), frames) for f in type(value).__slots__}
        return ("fields", type(value).__name__, fields)
    if isinstance(value, np.ndarray) and value.ndim and value.nbytes > BLOCK_BYTES:
        step = max(1, BLOCK_BYTES * len(value) // value.nbytes)
        for i in range(0, len(value), step):
            put(value[i : i + step])
        return ("array", value.dtype.str, value.shape, step)
    if type(value) is dict and len(value) > PIECE:
        items = list(value.items())
        for i in range(0, len(items), PIECE):
            put(items[i : i + PIECE])
        return ("dict", len(range(0, len(items), PIECE)))
    if type(value) is list and len(value) > PIECE:
        for i in range(0, len(value), PIECE):
            put(value[i : i + PIECE])
        return ("list", len(range(0, len(value), PIECE)))
    put(value)
    return ("one",)


_CLASSES: dict[str, type[Any]] = {"Grid": Grid, "Frozen": bm25.Frozen}


def _build(spec: tuple[Any, ...], frames: _Frames) -> Any:
    """The value ``spec`` describes, read from ``frames`` (its pieces come in order), a
    checkpoint between two pieces."""
    kind = spec[0]
    giveway.checkpoint()
    if kind == "bm25":
        _, frozen, lengths, total, pairs, count = spec
        return bm25.LiveBM25.thawed(
            _build(frozen, frames), _build(lengths, frames), total, pairs, count
        )
    if kind == "fields":
        cls = _CLASSES[spec[1]]
        out = object.__new__(cls)
        for name, part in spec[2].items():
            setattr(out, name, _build(part, frames))
        return out
    if kind == "array":
        _, dtype, shape, step = spec
        array = np.empty(shape, dtype=np.dtype(dtype))
        for i in range(0, shape[0], step):
            giveway.checkpoint()
            array[i : i + step] = frames.next()
        return array
    if kind == "dict":
        d: dict[Any, Any] = {}
        for _ in range(spec[1]):
            giveway.checkpoint()
            d.update(frames.next())
        return d
    if kind == "list":
        items: list[Any] = []
        for _ in range(spec[1]):
            giveway.checkpoint()
            items.extend(frames.next())
        return items
    return frames.next()


def _link(state: dict[str, Any], dim: int) -> None:
    """The fields written as ids, made objects again (the ones the other fields hold)."""
    turns, entries = state["turns"], state["entries"]
    state["row_turn"] = [turns[i] if i else None for i in state["row_ids"]]
    state["memories"] = [entries[i] if i is not None else None for i in state["memories"]]
    state["summaries"] = [entries[i] for i in state["summaries"]]
    state["images"] = np.zeros((0, 1), dtype=np.float32)
    state["image_turn"] = []
    state["image_urls"] = []
    if state["grid"].dim != dim:
        raise ValueError("an index snapshot of another dimension")
