"""Rankings over an owner's index (:mod:`lightmem.retrieval.index`): pure array work, one
ranked id list per key. Every ranking takes a mask of the rows it may return (the scope's
run, the time range, the question's focus) built once per query with numpy."""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

import numpy as np
import numpy.typing as npt

from lightmem.retrieval.index import Grid, OwnerIndex
from lightmem.retrieval.lexical import terms
from lightmem.stores.base import TimeRange
from lightmem.timeutil import epoch_seconds
from lightmem.types import Entry, Hit, Scope

Mask = npt.NDArray[np.bool_]
Vector = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Focus:
    """What a question narrows to: the speakers it names, the time windows of its dates."""

    speakers: frozenset[str] = frozenset()
    windows: tuple[tuple[datetime, datetime], ...] = ()
    user: bool = False  # "the user": the messages of role user

    def __bool__(self) -> bool:
        return bool(self.speakers or self.windows or self.user)


#: rows per matrix-vector product: small enough that BLAS runs each on the calling thread
#: (a large product wakes its worker threads, which on a busy machine waits for a core:
#: 8 ms instead of 0.5 ms for 10k rows at load 4 on 2 cores)
BLOCK = 1024
#: rows from which a product's blocks are shared with a helper thread. One thread reads a
#: large matrix at ~10 GB/s here: 50k MiniLM rows (77 MB) took 8 ms alone, 4 with help.
SHARED_ROWS = 16 * BLOCK

_helper: ThreadPoolExecutor | None = None
_helper_lock = threading.Lock()


def matvec(matrix: npt.NDArray[np.float32], vector: Vector) -> npt.NDArray[np.float32]:
    """``matrix @ vector`` by blocks of :data:`BLOCK` rows; from :data:`SHARED_ROWS` rows
    a helper thread takes blocks too. The caller never waits for it: a block the helper
    has taken but not written yet (its thread waiting for a core) is computed again here,
    to the same values (the helper writes a finished block at once, never a partial sum),
    so a busy machine costs at most what one thread alone does."""
    out = np.empty(len(matrix), dtype=np.float32)
    starts = range(0, len(matrix), BLOCK)
    helper = _helping() if len(matrix) >= SHARED_ROWS else None
    if helper is None:
        for i in starts:
            np.dot(matrix[i : i + BLOCK], vector, out=out[i : i + BLOCK])
        return out
    claims = itertools.count()  # next() on it is atomic under the GIL
    written = [False] * len(starts)

    def work() -> None:
        while (k := next(claims)) < len(starts):
            i = starts[k]
            out[i : i + BLOCK] = matrix[i : i + BLOCK] @ vector
            written[k] = True

    helper.submit(work)
    work()
    for k, i in enumerate(starts):
        if not written[k]:
            out[i : i + BLOCK] = matrix[i : i + BLOCK] @ vector
    return out


def _helping() -> ThreadPoolExecutor | None:
    """The one helper thread of large products (none on a one-core machine)."""
    global _helper
    if (os.cpu_count() or 1) < 2:
        return None
    with _helper_lock:
        if _helper is None:
            _helper = ThreadPoolExecutor(1, thread_name_prefix="lightmem-matvec")
        return _helper


def _forget_helper() -> None:
    """In a forked child: the parent's executor came along without its thread (its queue
    would only grow), and its lock may have been held at the fork."""
    global _helper, _helper_lock
    _helper, _helper_lock = None, threading.Lock()


os.register_at_fork(after_in_child=_forget_helper)


class Dense:
    """One query vector's cosines to the owner's turns and memories, each computed once a
    search however many rankings use it (plain, over the question's focus, the changes)."""

    def __init__(self, index: OwnerIndex, vector: Vector) -> None:
        self.index, self.vector = index, vector

    @cached_property
    def turns(self) -> npt.NDArray[np.float32]:
        g = self.index.grid
        return matvec(g.vectors[: g.n], self.vector)

    @cached_property
    def memories(self) -> npt.NDArray[np.float32]:
        g = self.index.mem
        return matvec(g.vectors[: g.n], self.vector)

    @cached_property
    def context(self) -> npt.NDArray[np.float32]:
        """The turns' cosines with their neighbours' added (``neighbour_weight`` each),
        normalised as the turn's context vector is."""
        index, plain = self.index, self.turns
        padded = np.append(plain, np.float32(0.0))
        near = padded[index.neighbours[: index.grid.n]].sum(axis=1)
        return (plain + index.s.neighbour_weight * near) / index.context_norm[: index.grid.n]


def match(index: OwnerIndex, dense: Dense, hit: Hit) -> float | None:
    """The query's cosine to a hit: a memory's key, else (a turn's own text kept as a
    memory) the best of its source turns; a turn's own vector."""
    if hit.entry is not None:
        row = index.memory_row.get(hit.entry.id)
        if row is not None:
            return float(dense.memories[row])
        turns = [t.id for t in hit.sources]
    else:
        turns = [hit.id]
    rows = [index.row_of[t] for t in turns if t in index.row_of]
    return float(max(dense.turns[r] for r in rows)) if rows else None


def top(scores: npt.NDArray[np.float32], usable: Mask, depth: int) -> list[int]:
    """Row numbers of the ``depth`` best usable scores, best first (ties: lower row, also
    where the cut falls among equal scores). Only the usable rows are looked at: a BM25
    ranking of a long history keeps the few rows that hold a query word."""
    rows = np.flatnonzero(usable)
    n = min(depth, len(rows))
    if n <= 0:
        return []
    values = scores[rows]
    if n < len(rows):
        cut = np.partition(values, len(rows) - n)[len(rows) - n]  # the n-th best score
        above = np.flatnonzero(values > cut)
        level = np.flatnonzero(values == cut)[: n - len(above)]  # rows ascend: lower first
        pick = np.concatenate([above, level])
    else:
        pick = np.arange(len(rows))
    pick = pick[np.lexsort((pick, -values[pick]))]
    return rows[pick].tolist()


def _window_mask(ts: npt.NDArray[np.float64], time_range: TimeRange | None) -> Mask:
    ok = np.ones(len(ts), dtype=bool)
    if time_range is None:
        return ok
    start, end = time_range
    ok &= ~np.isnan(ts)
    if start is not None:
        ok &= ts >= epoch_seconds(start)
    if end is not None:
        ok &= ts <= epoch_seconds(end)
    return ok


def grid_mask(g: Grid, codes: dict[str, int], scope: Scope, time_range: TimeRange | None) -> Mask:
    """Live rows of the scope's run (when it names one) within the time range."""
    mask = g.live[: g.n].copy()
    if scope.run_id is not None:
        mask &= g.run[: g.n] == codes.get(scope.run_id, -2)
    return mask & _window_mask(g.ts[: g.n], time_range)


def focus_mask(index: OwnerIndex, focus: Focus) -> Mask:
    g = index.grid
    mask = np.ones(g.n, dtype=bool)
    if focus.speakers:
        codes = [index.speakers.of[s] for s in focus.speakers if s in index.speakers.of]
        mask &= np.isin(g.speaker[: g.n], codes)
    if focus.user:
        mask &= g.user[: g.n]
    if focus.windows:
        inside = np.zeros(g.n, dtype=bool)
        for a, b in focus.windows:
            ts = g.ts[: g.n]
            inside |= (ts >= epoch_seconds(a)) & (ts < epoch_seconds(b))
        mask &= inside
    return mask


def turn_rankings(
    index: OwnerIndex,
    allowed: Mask,
    dense: Dense | None,
    query: str | None,
    depth: int,
) -> list[list[str]]:
    """Turn ids, one list per key: dense plain and context (when ``dense``), BM25 plain
    and context (when ``query``)."""
    g, out = index.grid, []
    ids = index.row_ids
    if dense is not None:
        usable = allowed & g.has[: g.n]
        out.append([ids[i] for i in top(dense.turns, usable, depth)])
        out.append([ids[i] for i in top(dense.context, usable, depth)])
    if query is not None:
        q = terms(query)
        for bm25 in (index.plain_bm25, index.context_bm25):
            scored = bm25.score_array(q, g.n)
            out.append([ids[i] for i in top(scored, allowed & (scored > 0), depth)])
    return out


def memory_mask(index: OwnerIndex, scope: Scope, time_range: TimeRange | None) -> Mask:
    return grid_mask(index.mem, index.runs.of, scope, time_range)


def memory_dense(
    index: OwnerIndex, allowed: Mask, dense: Dense, depth: int, least: float = -1.0
) -> list[str]:
    """Memory ids by cosine to their evidence-keyed vectors (at least ``least``), best
    first."""
    g = index.mem
    scores = dense.memories
    usable = allowed & g.has[: g.n] & (scores >= least)
    return [_memory_id(index, i) for i in top(scores, usable, depth)]


def turn_dense(
    index: OwnerIndex, allowed: Mask, dense: Dense, depth: int, least: float = -1.0
) -> list[str]:
    """Turn ids by cosine of their own vectors (at least ``least``), best first."""
    g = index.grid
    scores = dense.turns
    usable = allowed & g.has[: g.n] & (scores >= least)
    return [index.row_ids[i] for i in top(scores, usable, depth)]


def memory_bm25(index: OwnerIndex, allowed: Mask, query: str, depth: int) -> list[str]:
    """Memory ids by stemmed BM25 over their text and keywords, best first."""
    scores = index.memory_bm25.score_array(terms(query), index.mem.n)
    return [_memory_id(index, i) for i in top(scores, allowed & (scores > 0), depth)]


def _memory_id(index: OwnerIndex, row: int) -> str:
    entry = index.memories[row]
    assert entry is not None
    return entry.id


def summary_rankings(
    index: OwnerIndex,
    scope: Scope,
    vector: Vector | None,
    query: str | None,
    depth: int,
    time_range: TimeRange | None,
) -> list[list[Entry]]:
    """Session summaries by cosine and by stemmed BM25, within the run and overlapping the
    time range."""
    summaries = index.summaries
    usable = np.array(
        [_in_run(e.scope.run_id, scope) and _overlaps(e, time_range) for e in summaries],
        dtype=bool,
    )
    if not usable.any():
        return []
    out: list[list[Entry]] = []
    if vector is not None:
        scores = matvec(index.summary_keys, vector)
        out.append([summaries[i] for i in top(scores, usable, depth)])
    if query is not None:
        scored = index.summary_bm25.score_array(terms(query), len(summaries))
        out.append([summaries[i] for i in top(scored, usable & (scored > 0), depth)])
    return out


def image_rankings(
    index: OwnerIndex, allowed_turns: set[str], vector: Vector, depth: int
) -> tuple[list[str], list[str]]:
    """Turns and memories by their images' similarity to the query's image-space vector,
    best first: the turns that share the images, and the memories (not a turn's own text)
    that carry them from those turns."""
    if not index.image_turn or index.images.shape[1] != vector.shape[0]:
        return [], []
    usable = np.array([t in allowed_turns for t in index.image_turn], dtype=bool)
    order = top(matvec(index.images, vector.astype(np.float32)), usable, depth)
    turns = list(dict.fromkeys(index.image_turn[r] for r in order))
    by_image: dict[tuple[str, str], list[str]] = {}
    for e in index.memories:
        for image in e.images if e is not None else []:
            for source in e.sources:  # type: ignore[union-attr]
                by_image.setdefault((source, image.url), []).append(e.id)  # type: ignore[union-attr]
    carried: dict[str, None] = {}
    for r in order:
        key = (index.image_turn[r], index.image_urls[r])
        carried.update((i, None) for i in by_image.get(key, []))
    return turns, list(carried)[:depth]


def _in_run(run_id: str | None, scope: Scope) -> bool:
    return scope.run_id is None or run_id == scope.run_id


def _overlaps(summary: Entry, time_range: TimeRange | None) -> bool:
    """Whether a session's span (``meta`` start/end) meets the time range."""
    if time_range is None:
        return True
    start, end = time_range
    first = _meta_time(summary.meta.get("start")) or summary.timestamp
    last = _meta_time(summary.meta.get("end")) or first
    if first is None or last is None:
        return False
    return (end is None or first <= end) and (start is None or last >= start)


def _meta_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def sessions_mask(index: OwnerIndex, sessions: Sequence[str | None]) -> Mask:
    """The rows of turns in these sessions."""
    codes = [index.sessions.of[s] for s in sessions if s is not None and s in index.sessions.of]
    return np.isin(index.grid.run[: index.grid.n], codes)
