"""Gap signals shared by the segmenters: how much the turns on either side of a gap belong
together, and how several such signals are fused and turned into boundaries.

Every signal has one value per gap (``values[g - 1]`` is the gap before turn ``g``), high
where the two sides belong together:

* :func:`embedding_cohesion`: cosine of the mean embeddings of the ``window`` turns before
  and after the gap (windows, not single turns: a short reply says little on its own);
* :func:`lexical_cohesion`: the same for TF-IDF word vectors (sublinear term frequency, IDF
  over the buffer's turns, stemmed words without stop words), the classic TextTiling
  signal: names and topic words persist inside a topic and change at its boundary.

:func:`fuse` averages signals after z-normalising them, each weighted by how well it agrees
with the others (its mean correlation with them, at least 0): a signal that carries no
information on this buffer (it agrees with nothing) fades out by itself, with no weight to
tune. :func:`pick_low` cuts at the deepest local minima below ``mean - z * std``.

In the pipeline a segmenter sees one sensory buffer at a time, whose own statistics are
noisy (a few dozen gaps). :class:`GapHistory` keeps the running moments of each signal over
every gap of an owner's stream (each gap counted once, by the id of the turn after it), and
:func:`fuse_calibrated` z-scores, weights and thresholds with those: the stream calibrates
its own thresholds. On a single call it is exactly :func:`fuse`.
"""

from __future__ import annotations

import math
import threading
from collections import Counter, OrderedDict
from collections.abc import Hashable, Sequence

import numpy as np
import numpy.typing as npt

from lightmem.embedders.base import Vectors
from lightmem.retrieval.lexical import terms

Signal = npt.NDArray[np.float64]


def embedding_cohesion(embeddings: Vectors, window: int) -> Signal:
    """Cosine of the mean (unit) embeddings of the ``window`` turns each side of each gap."""
    e = np.asarray(embeddings, dtype=np.float64)
    n = len(e)
    out = np.zeros(max(n - 1, 0), dtype=np.float64)
    if n < 2:
        return out
    prefix = np.vstack([np.zeros((1, e.shape[1])), np.cumsum(e, axis=0)])
    for g in range(1, n):
        left = prefix[g] - prefix[max(0, g - window)]
        right = prefix[min(n, g + window)] - prefix[g]
        denom = float(np.linalg.norm(left) * np.linalg.norm(right))
        out[g - 1] = float(left @ right) / denom if denom > 0 else 0.0
    return out


def lexical_cohesion(texts: Sequence[str], window: int) -> Signal:
    """Cosine of the TF-IDF vectors of the ``window`` turns each side of each gap."""
    words = [terms(t) for t in texts]
    n = len(words)
    if n < 2:
        return np.zeros(0, dtype=np.float64)
    df: Counter[str] = Counter()
    for w in words:
        df.update(set(w))
    idf = {t: math.log(n / c) for t, c in df.items()}

    def vector(lo: int, hi: int) -> dict[str, float]:
        counts: Counter[str] = Counter()
        for i in range(lo, hi):
            counts.update(words[i])
        return {t: (1.0 + math.log(c)) * idf[t] for t, c in counts.items() if idf[t] > 0}

    out = np.zeros(n - 1, dtype=np.float64)
    for g in range(1, n):
        a, b = vector(max(0, g - window), g), vector(g, min(n, g + window))
        dot = sum(v * b.get(t, 0.0) for t, v in a.items())
        na = math.sqrt(sum(v * v for v in a.values()))
        nb = math.sqrt(sum(v * v for v in b.values()))
        out[g - 1] = dot / (na * nb) if na > 0 and nb > 0 else 0.0
    return out


def zscore(values: Signal) -> Signal:
    std = float(values.std()) if len(values) else 0.0
    return (values - values.mean()) / std if std > 0 else np.zeros_like(values)


def agreement_weights(signals: Sequence[Signal]) -> list[float]:
    """Each signal's mean correlation with the others (0 when negative or undefined); equal
    weights when no signal agrees with any other, or when there is one signal."""
    k = len(signals)
    if k < 2 or len(signals[0]) < 3:
        return [1.0] * k
    z = np.stack([zscore(s) for s in signals])
    return weights_of((z @ z.T) / z.shape[1])  # the correlation matrix of z-scored rows


def weights_of(corr: np.ndarray) -> list[float]:
    """From a correlation matrix: each signal's mean correlation with the others, at least
    0; equal weights when none agrees with any other."""
    k = len(corr)
    if k < 2:
        return [1.0] * k
    weights = [max(0.0, float((corr[i].sum() - corr[i, i]) / (k - 1))) for i in range(k)]
    return weights if sum(weights) > 0 else [1.0] * k


def fuse(signals: Sequence[Signal]) -> tuple[Signal, list[float]]:
    """The agreement-weighted mean of the z-scored signals, and the weights used."""
    weights = agreement_weights(signals)
    total = sum(weights)
    fused = sum((w / total) * zscore(s) for w, s in zip(weights, signals, strict=True))
    return np.asarray(fused, dtype=np.float64), weights


def pick_low(
    values: Signal, *, z: float, min_turns: int, threshold: float | None = None
) -> list[int]:
    """Boundaries where ``values`` (one per gap, high = same topic) is a local minimum below
    ``threshold`` (default ``mean - z * std``): deepest first, at least ``min_turns`` turns
    apart and from the start. ``values[g - 1]`` is about the gap before turn ``g``."""
    n = len(values) + 1
    if n < 2:
        return []
    cut = threshold if threshold is not None else float(values.mean() - z * values.std())
    candidates = []
    for j, v in enumerate(values):
        left = values[j - 1] if j > 0 else np.inf
        right = values[j + 1] if j + 1 < len(values) else np.inf
        if v < cut and v <= left and v <= right:
            candidates.append((float(v), j + 1))
    chosen: list[int] = []
    for _, i in sorted(candidates):
        if i >= min_turns and all(abs(i - c) >= min_turns for c in chosen):
            chosen.append(i)
    return sorted(chosen)


class GapHistory:
    """Running sums of ``k`` gap signals: counts, means, and their covariance."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.n = 0
        self.total = np.zeros(k)
        self.cross = np.zeros((k, k))
        self.seen: set[str] = set()  # the gaps of the last buffer (the only ones seen again)

    def update(self, keys: Sequence[str], signals: Sequence[Signal]) -> None:
        x = np.stack(signals, axis=1)  # (gaps, k)
        fresh = [i for i, key in enumerate(keys) if key not in self.seen]
        if fresh:
            rows = x[fresh]
            self.n += len(fresh)
            self.total += rows.sum(axis=0)
            self.cross += rows.T @ rows
        self.seen = set(keys)

    def moments(self) -> tuple[np.ndarray, np.ndarray]:
        """Means and covariance matrix of the signals so far."""
        mean = self.total / max(self.n, 1)
        cov = self.cross / max(self.n, 1) - np.outer(mean, mean)
        return mean, cov


class Histories:
    """One :class:`GapHistory` per stream (an owner), the least recently used dropped."""

    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._by: OrderedDict[Hashable, GapHistory] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, stream: Hashable, k: int) -> GapHistory:
        with self._lock:
            found = self._by.get(stream)
            if found is None or found.k != k:
                found = self._by[stream] = GapHistory(k)
            self._by.move_to_end(stream)
            while len(self._by) > self.size:
                self._by.popitem(last=False)
            return found


def fuse_calibrated(
    history: GapHistory, keys: Sequence[str], signals: Sequence[Signal], z: float
) -> tuple[Signal, list[float], float]:
    """:func:`fuse` with the stream's running statistics: the fused signal, the weights and
    the cut-off (``-z`` standard deviations of the fused signal over the stream)."""
    history.update(keys, signals)
    mean, cov = history.moments()
    std = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    safe = np.where(std > 0, std, 1.0)
    scored = [
        (s - mean[i]) / safe[i] if std[i] > 0 else np.zeros_like(s) for i, s in enumerate(signals)
    ]
    k = len(signals)
    corr = cov / np.outer(safe, safe)
    weights = [1.0] * k if history.n < 3 else weights_of(corr)
    w = np.asarray(weights) / sum(weights)
    fused = np.asarray(sum(wi * zi for wi, zi in zip(w, scored, strict=True)), dtype=np.float64)
    live = std > 0
    spread = float(np.sqrt(max(float(w[live] @ corr[np.ix_(live, live)] @ w[live]), 0.0)))
    return fused, weights, -z * spread
