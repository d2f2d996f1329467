"""Grouping topic segments into extraction batches, and fitting a batch into one call:
pure functions."""

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


def fair_caps(sizes: Sequence[int], budget: int) -> list[int]:
    """Per-item caps whose sum fits ``budget``, cutting the largest items first.

    The caps are ``min(size, c)`` for the largest ``c`` that fits (water-filling): turns
    shorter than ``c`` are sent whole, and one huge turn is cut to what the others leave.
    """
    if sum(sizes) <= budget:
        return list(sizes)
    remaining = max(budget, 0)
    ordered = sorted(sizes)
    cap = 0
    for k, size in enumerate(ordered):
        share = remaining // (len(ordered) - k)
        if size > share:
            cap = share
            break
        remaining -= size
    return [min(size, cap) for size in sizes]


def turn_budget(
    max_tokens: int, context: int | None, fixed: int, reply_base: int, reply_cap: int
) -> int:
    """Turn tokens one extraction call may carry.

    At most ``max_tokens`` (``buffer.max_batch_tokens``); with a known model ``context``,
    also what leaves room for the ``fixed`` prompt tokens and the reply, whose budget is
    ``min(reply_cap, reply_base + 2 * turn_tokens)``. Never below 16.
    """
    if context is None:
        return max_tokens
    room = context - fixed
    # the reply budget reaches its cap once turn tokens pass (reply_cap - reply_base) / 2
    if room - reply_cap >= (reply_cap - reply_base) / 2:
        fits = room - reply_cap
    else:
        fits = (room - reply_base) // 3
    return max(16, min(max_tokens, int(fits)))
