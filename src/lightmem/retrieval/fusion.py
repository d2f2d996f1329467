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
            score = scores.get(doc)
            if score is None:  # first seen: this is its best rank so far
                scores[doc] = w / (k + rank)
                best[doc] = rank
                order[doc] = len(order)
            else:
                scores[doc] = score + w / (k + rank)
                if rank < best[doc]:
                    best[doc] = rank
    return sorted(scores.items(), key=lambda kv: (-kv[1], best[kv[0]], order[kv[0]]))
