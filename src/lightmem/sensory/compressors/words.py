"""Word-level selection shared by the token-scoring compressors: pure functions.

A *word* is a maximal run of non-space characters (punctuation stays attached, so the
compressed view reads as the original with words left out). A scorer gives each model token
a score and a byte span; tokens are attributed to the word holding their first non-space
byte; a word's score aggregates its tokens' scores; then words are kept best first until
they hold ``rate`` of the text's tokens, and joined in their original order.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

_WORD = re.compile(rb"\S+")
_SPACE = frozenset(b" \t\n\r\x0b\x0c")

Aggregate = Literal["sum", "max", "mean"]


@dataclass(frozen=True, slots=True)
class Words:
    """The words of one text, as UTF-8 byte spans (model tokenizers count bytes)."""

    text: bytes
    spans: list[tuple[int, int]]

    @classmethod
    def of(cls, text: str) -> Words:
        data = text.encode("utf-8", "replace")
        return cls(data, [m.span() for m in _WORD.finditer(data)])

    def __len__(self) -> int:
        return len(self.spans)

    def join(self, keep: Sequence[bool]) -> str:
        return " ".join(
            self.text[a:b].decode("utf-8", "replace")
            for (a, b), k in zip(self.spans, keep, strict=True)
            if k
        )


def token_words(words: Words, token_spans: Sequence[tuple[int, int]]) -> list[int]:
    """For each token byte span, the index of the word holding its first non-space byte,
    or -1 for a token made only of spaces."""
    out: list[int] = []
    w = 0
    for a, b in token_spans:
        first = a
        while first < b and words.text[first] in _SPACE:
            first += 1
        if first >= b:
            out.append(-1)
            continue
        while w < len(words.spans) and words.spans[w][1] <= first:
            w += 1
        out.append(w if w < len(words.spans) and words.spans[w][0] <= first else -1)
    return out


def word_scores(
    n_words: int, owners: Sequence[int], scores: Sequence[float], how: Aggregate
) -> tuple[np.ndarray, np.ndarray]:
    """Aggregate token ``scores`` into per-word scores; also the per-word token counts.

    A word no token was attributed to gets ``-inf`` (and costs nothing)."""
    total = np.zeros(n_words, dtype=np.float64)
    best = np.full(n_words, -np.inf)
    count = np.zeros(n_words, dtype=np.int64)
    for owner, s in zip(owners, scores, strict=True):
        if owner < 0:
            continue
        total[owner] += s
        best[owner] = max(best[owner], s)
        count[owner] += 1
    if how == "max":
        agg = best
    elif how == "mean":
        agg = np.where(count > 0, total / np.maximum(count, 1), -np.inf)
    else:
        agg = np.where(count > 0, total, -np.inf)
    return agg, count


def select_words(scores: np.ndarray, costs: np.ndarray, rate: float) -> list[bool]:
    """Keep the best-scoring words until they hold ``rate`` of the total cost (tokens).

    Words are taken best first (ties: the earlier word); one that would pass the budget is
    skipped and smaller ones after it may still fill the gap. At least one word is kept.
    """
    n = len(scores)
    if n == 0:
        return []
    budget = rate * float(costs.sum())
    order = sorted(range(n), key=lambda i: (-scores[i], i))
    keep = [False] * n
    used = 0.0
    for i in order:
        if used + costs[i] <= budget + 1e-9:
            keep[i] = True
            used += float(costs[i])
    if not any(keep):
        keep[order[0]] = True
    return keep
