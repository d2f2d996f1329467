"""Okapi BM25 over documents that come and go: the per-owner indexes are updated by delta
(a turn added, a context key rewritten, a memory deleted), never rebuilt on a write.

Documents are numbered rows. Each term keeps its postings (row -> term frequency) and, once
asked for, the same as numpy arrays, rebuilt only after that term's postings changed; a
query scores every row at once with array arithmetic.

An index can also be *frozen* into a few flat arrays (:meth:`LiveBM25.freeze`, what an index
snapshot holds) and made again from them at once (:meth:`LiveBM25.thawed`): a term's postings
and a row's terms become dictionaries again only when a write touches them, so reading a
large owner's snapshot makes no object per posting.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

K1 = 1.2
B = 0.75
Rows = npt.NDArray[np.int64]
Tfs = npt.NDArray[np.float32]


@dataclass(slots=True)
class Frozen:
    """Postings by term and terms by row as flat arrays (compressed sparse rows)."""

    terms: list[str]  # term number -> term
    term_ptr: npt.NDArray[np.int64]  # term i's postings: [term_ptr[i], term_ptr[i + 1])
    post_rows: Rows
    post_tfs: Tfs
    doc_ptr: npt.NDArray[np.int64]  # row r's terms: [doc_ptr[r], doc_ptr[r + 1])
    doc_terms: npt.NDArray[np.int32]
    doc_tfs: npt.NDArray[np.int32]
    has_doc: npt.NDArray[np.bool_]  # row r is a document (perhaps an empty one)


class LiveBM25:
    """BM25 (k1 = 1.2, b = 0.75) over rows that can be added, replaced and removed."""

    def __init__(self) -> None:
        self._postings: dict[str, dict[int, int]] = {}
        self._arrays: dict[str, tuple[Rows, Tfs]] = {}
        self._docs: dict[int, dict[str, int]] = {}  # row -> term frequencies
        self._lengths = np.zeros(64, dtype=np.float32)
        self._total = 0
        self._pairs = 0  # postings in all
        self._count = 0  # documents
        # what is still frozen: terms by number, rows by has_doc (cleared as they thaw)
        self._frozen: Frozen | None = None
        self._frozen_terms: dict[str, int] = {}

    @classmethod
    def of(cls, docs: Iterable[Sequence[str]]) -> LiveBM25:
        index = cls()
        for row, doc in enumerate(docs):
            index.put(row, doc)
        return index

    @property
    def size(self) -> int:
        return self._count

    # -- frozen and thawed --------------------------------------------------------------------
    def freeze(self) -> tuple[Frozen, npt.NDArray[np.float32], int, int, int]:
        """The whole index as arrays, with its lengths, total, pairs and count."""
        vocab: dict[str, int] = {}
        rows_of: list[npt.NDArray[np.int64]] = []
        tfs_of: list[npt.NDArray[np.float32]] = []
        for term in [*self._postings, *self._frozen_terms]:
            at, tf = self._term(term) or (np.zeros(0, np.int64), np.zeros(0, np.float32))
            vocab[term] = len(vocab)
            rows_of.append(at)
            tfs_of.append(tf)
        sizes = np.array([len(a) for a in rows_of], dtype=np.int64)
        term_ptr = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        n = len(self._lengths)
        has_doc = np.zeros(n, dtype=bool)
        doc_terms: list[int] = []
        doc_tfs: list[int] = []
        doc_sizes = np.zeros(n, dtype=np.int64)
        for row in range(n):
            counts = self._doc(row, thaw=False)
            if counts is None:
                continue
            has_doc[row] = True
            doc_sizes[row] = len(counts)
            doc_terms.extend(vocab[t] for t in counts)
            doc_tfs.extend(counts.values())
        frozen = Frozen(
            terms=list(vocab),
            term_ptr=term_ptr,
            post_rows=np.concatenate(rows_of) if rows_of else np.zeros(0, np.int64),
            post_tfs=np.concatenate(tfs_of) if tfs_of else np.zeros(0, np.float32),
            doc_ptr=np.concatenate([[0], np.cumsum(doc_sizes)]).astype(np.int64),
            doc_terms=np.asarray(doc_terms, dtype=np.int32),
            doc_tfs=np.asarray(doc_tfs, dtype=np.int32),
            has_doc=has_doc,
        )
        return frozen, self._lengths.copy(), self._total, self._pairs, self._count

    @classmethod
    def thawed(
        cls, frozen: Frozen, lengths: npt.NDArray[np.float32], total: int, pairs: int, count: int
    ) -> LiveBM25:
        """An index answering as the frozen one did, its dictionaries made on demand."""
        index = cls()
        index._frozen = frozen
        index._frozen_terms = dict(zip(frozen.terms, range(len(frozen.terms)), strict=True))
        index._lengths = lengths
        index._total, index._pairs, index._count = total, pairs, count
        return index

    def _doc(self, row: int, *, thaw: bool = True) -> dict[str, int] | None:
        """Row ``row``'s term frequencies (None: no document), made a dictionary of
        :attr:`_docs` when ``thaw`` and it was still frozen."""
        found = self._docs.get(row)
        f = self._frozen
        if found is not None or f is None or row >= len(f.has_doc) or not f.has_doc[row]:
            return found
        a, b = int(f.doc_ptr[row]), int(f.doc_ptr[row + 1])
        counts = {
            f.terms[int(t)]: int(tf) for t, tf in zip(f.doc_terms[a:b], f.doc_tfs[a:b], strict=True)
        }
        if thaw:
            f.has_doc[row] = False
            self._docs[row] = counts
        return counts

    def _posting(self, term: str) -> dict[int, int] | None:
        """The term's postings as a dictionary of :attr:`_postings` (thawed if frozen)."""
        found = self._postings.get(term)
        if found is not None or self._frozen is None:
            return found
        i = self._frozen_terms.pop(term, None)
        if i is None:
            return None
        f = self._frozen
        a, b = int(f.term_ptr[i]), int(f.term_ptr[i + 1])
        found = dict(
            zip(f.post_rows[a:b].tolist(), f.post_tfs[a:b].astype(int).tolist(), strict=True)
        )
        self._postings[term] = found
        return found

    # -- writes -------------------------------------------------------------------------------
    def put(self, row: int, doc: Sequence[str]) -> None:
        """Index ``doc`` as row ``row`` (replacing what the row held)."""
        self.remove(row)
        counts = dict(Counter(doc))
        self._docs[row] = counts
        for term, tf in counts.items():
            found = self._posting(term)
            if found is None:
                self._postings[term] = {row: tf}
            else:
                found[row] = tf
            self._arrays.pop(term, None)
        self._pairs += len(counts)
        self._count += 1
        if row >= len(self._lengths):
            grown = np.zeros(max(2 * len(self._lengths), row + 1), dtype=np.float32)
            grown[: len(self._lengths)] = self._lengths
            self._lengths = grown
        self._lengths[row] = len(doc)
        self._total += len(doc)

    def remove(self, row: int) -> None:
        if self._doc(row) is None:
            return
        counts = self._docs.pop(row)
        for term in counts:
            postings = self._posting(term)
            assert postings is not None  # a document's terms have postings
            del postings[row]
            if not postings:
                del self._postings[term]
            self._arrays.pop(term, None)
        self._pairs -= len(counts)
        self._count -= 1
        self._total -= int(self._lengths[row])
        self._lengths[row] = 0

    # -- reads --------------------------------------------------------------------------------
    def score_array(self, query: Sequence[str], rows: int) -> npt.NDArray[np.float32]:
        """The score of every row below ``rows`` (0 for rows sharing no query term): the
        query's postings in one array, scored and summed by row at once (a question of
        three messages has dozens of terms: term by term, the arithmetic's calls cost
        more than the arithmetic)."""
        out = np.zeros(rows, dtype=np.float32)
        n = self._count
        found = [f for term in set(query) if (f := self._term(term)) is not None]
        if not n or not found:
            return out
        avg = (self._total / n) or 1.0
        dfs = np.array([len(at) for at, _ in found], dtype=np.int64)
        idf = np.log1p((n - dfs + 0.5) / (dfs + 0.5)).astype(np.float32)
        at = np.concatenate([at for at, _ in found])
        tf = np.concatenate([tf for _, tf in found])
        weight = np.repeat(idf, dfs)
        keep = at < rows
        if not keep.all():
            at, tf, weight = at[keep], tf[keep], weight[keep]
        norm = K1 * (1.0 - B + B * self._lengths[at] / avg)
        summed = np.bincount(at, weights=weight * tf * (K1 + 1.0) / (tf + norm), minlength=rows)
        out += summed[:rows].astype(np.float32)
        return out

    def scores(self, query: Sequence[str]) -> dict[int, float]:
        """Row -> score, for rows sharing at least one query term."""
        scored = self.score_array(query, len(self._lengths))
        return {int(i): float(scored[i]) for i in np.flatnonzero(scored > 0)}

    def _term(self, term: str) -> tuple[Rows, Tfs] | None:
        cached = self._arrays.get(term)
        if cached is not None:
            return cached
        postings = self._postings.get(term)
        if postings is not None:
            rows = np.fromiter(postings.keys(), dtype=np.int64, count=len(postings))
            tfs = np.fromiter(postings.values(), dtype=np.float32, count=len(postings))
            cached = self._arrays[term] = (rows, tfs)
            return cached
        i = self._frozen_terms.get(term)
        if i is None or self._frozen is None:
            return None
        f = self._frozen
        a, b = int(f.term_ptr[i]), int(f.term_ptr[i + 1])
        cached = self._arrays[term] = (f.post_rows[a:b], f.post_tfs[a:b])
        return cached

    @property
    def nbytes(self) -> int:
        """A rough size, for cache budgets."""
        return 64 * self._pairs + 4 * len(self._lengths)
