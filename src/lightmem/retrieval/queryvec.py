"""Query vectors, line by line and remembered.

A query of several lines (the proxy's recent user messages, a pasted exchange) is embedded
line by line and searched by the mean of its lines' vectors, each weighted by its words.
Embedded whole, its lines would compete for the embedder's window (MiniLM reads 256 tokens
and cuts the rest: the newest message, last in the query, was the part cut), and every
request of a growing conversation would embed all of its recent messages again. Here each
line's vector is kept (the last :data:`SIZE` lines, by a digest of the text: no query text
is held), so a conversation that grows by one message embeds one message. A query of one
line is embedded as before.
"""

from __future__ import annotations

import re

import numpy as np

from lightmem.embedders.base import Embedder
from lightmem.kept import Kept, digest
from lightmem.retrieval.index import Vector

_WORD = re.compile(r"\w+")
#: words from which a line weighs no more (about a sentence): a long message does not drown
#: the short question after it
LINE_WORDS = 16
#: lines whose vectors are kept (384 floats each for MiniLM: 1.5 MB)
SIZE = 1024


class QueryVectors:
    def __init__(self, embedder: Embedder, size: int = SIZE) -> None:
        self.embedder = embedder
        self._kept: Kept[Vector] = Kept(size)

    def __call__(self, query: str) -> Vector:
        """The query's unit vector: the mean of its lines' vectors weighted by their words
        (as a whole-text embedding pools its tokens: "Thanks!" weighs little beside the
        question, a code fence nothing), normalised."""
        lines = [s for s in (line.strip() for line in query.splitlines()) if s] or [query]
        keys = [digest(line) for line in lines]
        vectors = {k: v for k in keys if (v := self._kept.get(k)) is not None}
        missing = {k: line for k, line in zip(keys, lines, strict=True) if k not in vectors}
        if missing:
            fresh = self.embedder.embed(list(missing.values()))
            # aligned copies: a view into the model's output buffer makes BLAS crawl
            for k, v in zip(missing, fresh, strict=True):
                vectors[k] = np.array(v, dtype=np.float32)
                self._kept.put(k, vectors[k])
        if len(keys) == 1:
            return vectors[keys[0]].copy()
        weights = np.array(
            [min(len(_WORD.findall(line)), LINE_WORDS) for line in lines], dtype=np.float32
        )
        if not weights.any():
            weights[:] = 1.0
        mean = np.average([vectors[k] for k in keys], axis=0, weights=weights)
        norm = float(np.linalg.norm(mean))
        return np.asarray(mean / norm if norm > 1e-9 else mean, dtype=np.float32)

    def clear(self) -> None:
        """Forget every kept vector (a benchmark timing fresh questions)."""
        self._kept.clear()
