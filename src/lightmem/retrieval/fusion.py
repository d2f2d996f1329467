"""Score fusion: pure functions over ranked id lists."""

from __future__ import annotations

from collections.abc import Sequence


def rrf(
    rankings: Sequence[Sequence[str]], k: int = 60, weights: Sequence[float] | None = None
) -> list[tuple[str, float]]:
    """Reciprocal-rank fusion: ``score(d) = sum_i w_i / (k + rank_i(d))`` with 1-based ranks.

    Ties are broken by the best single rank, then by first appearance, so the result is
    deterministic.
    """
    if k < 1:
        raise ValueError("rrf k must be >= 1")
    if weights is not None and len(weights) != len(rankings):
        raise ValueError("one weight per ranking")
    scores: dict[str, float] = {}
    best: dict[str, int] = {}
    order: dict[str, int] = {}
    for i, ranking in enumerate(rankings):
        w = 1.0 if weights is None else float(weights[i])
        for rank, doc in enumerate(ranking, start=1):
            scores[doc] = scores.get(doc, 0.0) + w / (k + rank)
            best[doc] = min(best.get(doc, rank), rank)
            order.setdefault(doc, len(order))
    return sorted(scores.items(), key=lambda kv: (-kv[1], best[kv[0]], order[kv[0]]))


def convex(
    scored: Sequence[Sequence[tuple[str, float]]], weights: Sequence[float]
) -> list[tuple[str, float]]:
    """Convex combination of min-max normalised scores (a missing doc scores 0 in that list)."""
    if len(scored) != len(weights):
        raise ValueError("one weight per score list")
    total: dict[str, float] = {}
    for items, w in zip(scored, weights, strict=True):
        if not items:
            continue
        values = [s for _, s in items]
        lo, hi = min(values), max(values)
        span = hi - lo
        for doc, s in items:
            norm = 1.0 if span == 0 else (s - lo) / span
            total[doc] = total.get(doc, 0.0) + w * norm
    return sorted(total.items(), key=lambda kv: -kv[1])
