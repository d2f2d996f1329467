"""BM25 for the retrieval layer's own indexes (turns and their context keys): terms are
folded words with English stop words removed and a light suffix stemmer, so "camping",
"camped" and "camps" meet. Pure functions and a small in-memory index, unit-tested alone.

The stores keep their own unstemmed BM25 over entries (built at write time, scalable to
millions of rows); this index serves what is rebuilt from a scope's turns on demand.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

from lightmem.text import STOP_WORDS, words

K1 = 1.2
B = 0.75

_SUFFIXES = ("ingly", "edly", "ings", "ing", "ied", "ies", "ed", "es", "s", "ly")


def stem(word: str) -> str:
    """A light English stemmer: strips one inflectional suffix from words long enough to
    keep a stem of three or more letters (``camping`` -> ``camp``, ``parties`` -> ``party``)."""
    if not word.isalpha():
        return word
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            if word.endswith("ss") and suffix == "s":
                return word
            base = word[: -len(suffix)]
            return base + "y" if suffix in ("ies", "ied") else base
    return word


def terms(text: str) -> list[str]:
    """The BM25 terms of a text: folded words, stop words out, stemmed."""
    return [stem(w) for w in words(text) if w not in STOP_WORDS]


class BM25Index:
    """Okapi BM25 (k1 = 1.2, b = 0.75) over documents given as term lists."""

    def __init__(self, docs: Sequence[Sequence[str]]) -> None:
        self.size = len(docs)
        self.lengths = [len(d) for d in docs]
        self.avg = (sum(self.lengths) / self.size) if self.size else 1.0
        self.postings: dict[str, list[tuple[int, int]]] = {}
        for i, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                self.postings.setdefault(term, []).append((i, tf))
        n = self.size
        self.idf = {
            t: math.log(1.0 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()
        }

    def scores(self, query: Sequence[str]) -> dict[int, float]:
        """Document index -> score, for documents sharing at least one query term."""
        out: dict[int, float] = {}
        avg = self.avg or 1.0
        for term in set(query):
            idf = self.idf.get(term)
            if idf is None:
                continue
            for doc, tf in self.postings[term]:
                norm = K1 * (1.0 - B + B * self.lengths[doc] / avg)
                out[doc] = out.get(doc, 0.0) + idf * tf * (K1 + 1.0) / (tf + norm)
        return out

    @property
    def nbytes(self) -> int:
        """A rough size, for cache budgets."""
        return 64 * sum(len(p) for p in self.postings.values()) + 16 * self.size
