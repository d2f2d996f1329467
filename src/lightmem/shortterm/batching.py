"""Grouping topic segments into extraction batches: a pure function."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SegmentSize:
    segment_id: str
    turn_ids: tuple[str, ...]
    turn_tokens: tuple[int, ...]

    @property
    def tokens(self) -> int:
        return sum(self.turn_tokens)


def plan_batches(
    segments: Sequence[SegmentSize], threshold: int, max_tokens: int, force: bool
) -> list[list[str]]:
    """Return batches as lists of turn ids, in order.

    Segments accumulate until their tokens reach ``threshold``; then the accumulated
    segments become one batch. ``threshold == 0`` makes every segment its own batch. A batch
    never exceeds ``max_tokens`` (a segment larger than that is split between turns; a single
    turn larger than that is a batch of its own). Without ``force`` the segments below the
    threshold stay in short-term memory; with it they form a final batch.
    """
    batches: list[list[str]] = []
    current: list[str] = []
    current_tokens = 0

    def close() -> None:
        nonlocal current, current_tokens
        if current:
            batches.append(current)
        current, current_tokens = [], 0

    for seg in segments:
        for tid, tok in zip(seg.turn_ids, seg.turn_tokens, strict=True):
            if current and current_tokens + tok > max_tokens:
                close()
            current.append(tid)
            current_tokens += tok
        if current_tokens >= threshold:
            close()
    if force:
        close()
    return batches
