"""Okapi BM25 over documents that come and go: the per-owner indexes are updated by delta
(a turn added, a context key rewritten, a memory deleted), never rebuilt on a write.

Documents are numbered rows. Each term keeps its postings (row -> term frequency) and, once
asked for, the same as numpy arrays, rebuilt only after that term's postings changed; a
query scores every row at once with array arithmetic.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

K1 = 1.2
B = 0.75


class LiveBM25:
    """BM25 (k1 = 1.2, b = 0.75) over rows that can be added, replaced and removed."""

    def __init__(self) -> None:
        self._postings: dict[str, dict[int, int]] = {}
        self._arrays: dict[str, tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]]] = {}
        self._docs: dict[int, dict[str, int]] = {}  # row -> term frequencies
        self._lengths = np.zeros(64, dtype=np.float32)
        self._total = 0
        self._pairs = 0  # postings in all

    @classmethod
    def of(cls, docs: Iterable[Sequence[str]]) -> LiveBM25:
        index = cls()
        for row, doc in enumerate(docs):
            index.put(row, doc)
        return index

    @property
    def size(self) -> int:
        return len(self._docs)

    def put(self, row: int, doc: Sequence[str]) -> None:
        """Index ``doc`` as row ``row`` (replacing what the row held)."""
        if row in self._docs:
            self.remove(row)
        counts = dict(Counter(doc))  # a plain dict: a snapshot reads it back at C speed
        self._docs[row] = counts
        postings = self._postings
        for term, tf in counts.items():
            found = postings.get(term)  # not setdefault: it would make a dict per call
            if found is None:
                postings[term] = {row: tf}
            else:
                found[row] = tf
        if self._arrays:
            for term in counts:
                self._arrays.pop(term, None)
        self._pairs += len(counts)
        if row >= len(self._lengths):
            grown = np.zeros(max(2 * len(self._lengths), row + 1), dtype=np.float32)
            grown[: len(self._lengths)] = self._lengths
            self._lengths = grown
        self._lengths[row] = len(doc)
        self._total += len(doc)

    def remove(self, row: int) -> None:
        counts = self._docs.pop(row, None)
        if counts is None:
            return
        for term in counts:
            postings = self._postings[term]
            del postings[row]
            if not postings:
                del self._postings[term]
            self._arrays.pop(term, None)
        self._pairs -= len(counts)
        self._total -= int(self._lengths[row])
        self._lengths[row] = 0

    def score_array(self, query: Sequence[str], rows: int) -> npt.NDArray[np.float32]:
        """The score of every row below ``rows`` (0 for rows sharing no query term)."""
        out = np.zeros(rows, dtype=np.float32)
        n = len(self._docs)
        if not n:
            return out
        avg = (self._total / n) or 1.0
        for term in set(query):
            found = self._term(term)
            if found is None:
                continue
            at, tf = found
            keep = at < rows
            at, tf = at[keep], tf[keep]
            idf = math.log(
                1.0 + (n - len(self._postings[term]) + 0.5) / (len(self._postings[term]) + 0.5)
            )
            norm = K1 * (1.0 - B + B * self._lengths[at] / avg)
            out[at] += idf * tf * (K1 + 1.0) / (tf + norm)
        return out

    def scores(self, query: Sequence[str]) -> dict[int, float]:
        """Row -> score, for rows sharing at least one query term."""
        if not self._docs:
            return {}
        top = max(self._docs) + 1
        scored = self.score_array(query, top)
        return {int(i): float(scored[i]) for i in np.flatnonzero(scored > 0)}

    def _term(self, term: str) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float32]] | None:
        postings = self._postings.get(term)
        if postings is None:
            return None
        cached = self._arrays.get(term)
        if cached is None:
            rows = np.fromiter(postings.keys(), dtype=np.int64, count=len(postings))
            tfs = np.fromiter(postings.values(), dtype=np.float32, count=len(postings))
            cached = self._arrays[term] = (rows, tfs)
        return cached

    @property
    def nbytes(self) -> int:
        """A rough size, for cache budgets."""
        return 64 * self._pairs + 4 * len(self._lengths)
