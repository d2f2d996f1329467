"""Topic-segmentation benchmark: do the segmenters find session boundaries they are not told?

Streams with known boundaries are built by concatenating sessions: the *mixed* stream takes
sessions round-robin from the LoCoMo conversations and the LongMemEval instance (neighbours
always come from different conversations while more than one has sessions left); the
*longmemeval* stream is the instance's own haystack sessions in order (each one a separate
chat: the paper's setting). Every session start is a true boundary.

The segmenters must not see the answer: turns carry no session id (the pipeline always cuts
at session changes, so with them this would measure nothing) and speaker names are replaced
by neutral labels per conversation (``user``, ``assistant``, ...): otherwise a new pair of
names would give each LoCoMo session away. Turns are embedded as the pipeline embeds them
("Speaker: text", all-MiniLM-L6-v2).

A predicted boundary matches a true one at most ``tolerance`` turns away (one-to-one).
Segmenters see the whole stream at once (``buffer_tokens=None``) or, as in the pipeline,
a sensory buffer of ``buffer_tokens`` whose residual carries over (the cuts forced at a full
buffer then count as predictions too).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightmem.datasets import Conversation, DatasetTurn, load_dataset
from lightmem.embedders.base import Embedder, Vectors
from lightmem.sensory.segmenters.base import Segmenter
from lightmem.sensory.stage import plan_cuts, turn_embedding_text
from lightmem.tokens import count_tokens
from lightmem.types import Scope, Turn

log = logging.getLogger(__name__)
LABELS = ("user", "assistant")


@dataclass(frozen=True, slots=True)
class BoundaryScore:
    precision: float
    recall: float
    f1: float
    predicted: int
    true: int
    matched: int


def boundary_prf(
    predicted: Sequence[int], truth: Sequence[int], tolerance: int = 1
) -> BoundaryScore:
    """Precision, recall and F1 of boundary indices; a prediction matches at most one true
    boundary at most ``tolerance`` turns away (closest pairs matched first)."""
    pred, gold = sorted(set(predicted)), sorted(set(truth))
    pairs = sorted((abs(p - g), p, g) for p in pred for g in gold if abs(p - g) <= tolerance)
    used_p: set[int] = set()
    used_g: set[int] = set()
    for _, p, g in pairs:
        if p not in used_p and g not in used_g:
            used_p.add(p)
            used_g.add(g)
    matched = len(used_p)
    precision = matched / len(pred) if pred else 0.0
    recall = matched / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return BoundaryScore(precision, recall, f1, len(pred), len(gold), matched)


@dataclass(frozen=True, slots=True)
class LabelledStream:
    """Turns without session ids, and the indices where a new session starts."""

    name: str
    turns: list[Turn]
    truth: list[int]
    sessions: int


def sessions_of(conversation: Conversation) -> list[list[DatasetTurn]]:
    by_id: dict[str, list[DatasetTurn]] = {}
    for turn in conversation.turns:
        by_id.setdefault(turn.session_id, []).append(turn)
    return [by_id[s] for s in conversation.session_ids]


def build_stream(
    name: str, sources: Sequence[Conversation], *, max_sessions: int | None = None
) -> LabelledStream:
    """Sessions of ``sources`` taken round-robin (at most ``max_sessions`` per source),
    session ids stripped and speakers relabelled per source."""
    per_source = [sessions_of(c)[:max_sessions] for c in sources]
    labels = [_speaker_labels(c) for c in sources]
    order = [
        (s, r)
        for r in range(max(map(len, per_source), default=0))
        for s in range(len(sources))
        if r < len(per_source[s])
    ]
    turns: list[Turn] = []
    truth: list[int] = []
    for s, r in order:
        if turns:
            truth.append(len(turns))
        for t in per_source[s][r]:
            label = labels[s][t.speaker or t.role]
            turns.append(
                Turn(
                    id=str(len(turns)),
                    scope=Scope(user_id=f"bench-{name}"),  # a stream is an owner
                    seq=len(turns),
                    role=label,
                    content=t.content,
                    speaker=label,
                    ref=f"{sources[s].sample_id}:{t.ref}",
                )
            )
    return LabelledStream(name, turns, truth, len(order))


def _speaker_labels(conversation: Conversation) -> dict[str, str]:
    names = list(dict.fromkeys(t.speaker or t.role for t in conversation.turns))
    return {n: LABELS[i] if i < len(LABELS) else f"speaker{i + 1}" for i, n in enumerate(names)}


def segment_stream(
    segmenter: Segmenter,
    turns: list[Turn],
    embeddings: Vectors,
    *,
    buffer_tokens: int | None = None,
    max_segment_tokens: int | None = None,
) -> list[int]:
    """The boundaries a segmenter puts in ``turns``: all at once, or through a sensory buffer
    that behaves as :class:`~lightmem.sensory.stage.SensoryStage` (without session cuts):
    a pass each ``buffer_tokens`` new tokens, the open segment carried over up to
    ``max_segment_tokens`` (default: the pipeline's, 8 buffers)."""
    n = len(turns)
    if buffer_tokens is None:
        return [b for b in segmenter.boundaries(turns, embeddings) if 0 < b < n]
    cap = max_segment_tokens or 8 * buffer_tokens
    tokens = [count_tokens(t.content) for t in turns]
    cuts: list[int] = []
    start, seen = 0, 0  # the buffer starts at turn `start`; turns before `seen` are not new
    for end in range(1, n + 1):
        if sum(tokens[seen:end]) < buffer_tokens and end < n:
            continue
        local = [
            b
            for b in segmenter.boundaries(turns[start:end], embeddings[start:end])
            if 0 < b < end - start
        ]
        planned, carry = plan_cuts(
            local,
            [],
            tokens[start:end],
            lookahead=segmenter.lookahead,
            max_open_tokens=cap,
            force=end == n,
        )
        cuts.extend(start + c for c in planned)
        if carry == end - start and end < n:
            cuts.append(end)  # the open segment was too long: the pipeline cuts here
        start, seen = start + carry, end
    return sorted(set(cuts))


def evaluate(
    segmenters: dict[str, Segmenter],
    stream: LabelledStream,
    embeddings: Vectors,
    *,
    tolerance: int = 1,
    buffer_tokens: int | None = None,
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name, segmenter in segmenters.items():
        start = time.perf_counter()
        predicted = segment_stream(segmenter, stream.turns, embeddings, buffer_tokens=buffer_tokens)
        score = boundary_prf(predicted, stream.truth, tolerance)
        out[name] = {
            "precision": round(score.precision, 4),
            "recall": round(score.recall, 4),
            "f1": round(score.f1, 4),
            "predicted": score.predicted,
            "matched": score.matched,
            "seconds": round(time.perf_counter() - start, 2),
        }
    return out


def default_segmenters() -> dict[str, Segmenter]:
    """Attention only, similarity only, and the combined default (intersection); the
    combined segmenter's own two halves, so that each signal is computed once."""
    from lightmem.sensory.segmenters.combined import CombinedSegmenter

    combined = CombinedSegmenter()
    return {
        "attention": combined.attention,
        "similarity": combined.similarity,
        "combined": combined,
    }


def run_segmentation_bench(
    locomo_path: str | Path,
    longmemeval_path: str | Path,
    *,
    max_sessions: int | None = 8,
    tolerance: int = 1,
    buffer_tokens: int | None = None,
    segmenters: dict[str, Segmenter] | None = None,
    embedder: Embedder | None = None,
    compression: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Boundary P/R/F1 of each segmenter on the mixed and the LongMemEval stream, and the
    entropy compressor's speed on one LoCoMo conversation when its runtime works here."""
    say = progress or (lambda msg: log.info(msg))
    locomo = load_dataset("locomo", locomo_path)
    lme = load_dataset("longmemeval", longmemeval_path)
    streams = [
        build_stream(
            "mixed", [*locomo.conversations, *lme.conversations], max_sessions=max_sessions
        ),
        build_stream("longmemeval", lme.conversations[:1], max_sessions=None),
    ]
    if embedder is None:
        from lightmem.embedders.minilm import MiniLMEmbedder

        embedder = MiniLMEmbedder()
    chosen = segmenters if segmenters is not None else default_segmenters()
    result: dict[str, Any] = {
        "settings": {
            "tolerance": tolerance,
            "buffer_tokens": buffer_tokens,
            "max_sessions_per_source": max_sessions,
            "segmenters": {n: _describe(s) for n, s in chosen.items()},
            "locomo": {"path": str(locomo_path), "sha256": locomo.sha256},
            "longmemeval": {"path": str(longmemeval_path), "sha256": lme.sha256},
        },
        "streams": {},
    }
    for stream in streams:
        say(f"{stream.name}: {len(stream.turns)} turns, {stream.sessions} sessions")
        vectors = embedder.embed([turn_embedding_text(t, t.content) for t in stream.turns])
        result["streams"][stream.name] = {
            "turns": len(stream.turns),
            "sessions": stream.sessions,
            "true_boundaries": len(stream.truth),
            "scores": evaluate(
                chosen, stream, vectors, tolerance=tolerance, buffer_tokens=buffer_tokens
            ),
        }
    fallbacks = {n: getattr(s, "fallback", None) for n, s in chosen.items()}
    fallbacks = {n: why for n, why in fallbacks.items() if why}
    if fallbacks:
        result["fallbacks"] = fallbacks
    if compression:
        say("entropy compression speed")
        result["compression"] = compression_speed(locomo.conversations[0])
    return result


def compression_speed(conversation: Conversation, rate: float = 0.7) -> dict[str, Any]:
    """Entropy-compress every turn of ``conversation``; or say why it cannot run here."""
    from lightmem.sensory.compressors.entropy import (
        EntropyCompressor,
        EntropyOptions,
        runtime_problem,
    )

    problem = runtime_problem()
    if problem is not None:
        return {"skipped": problem}
    texts = [t.content for t in conversation.turns]
    compressor = EntropyCompressor(EntropyOptions(rate=rate))
    try:
        start = time.perf_counter()
        views = compressor.compress(texts)
        seconds = time.perf_counter() - start
    finally:
        compressor.close()
    before = sum(count_tokens(t) for t in texts)
    after = sum(count_tokens(v) for v in views)
    return {
        "conversation": conversation.sample_id,
        "turns": len(texts),
        "rate": rate,
        "min_words": compressor.opts.min_words,
        "seconds": round(seconds, 2),
        "lm_tokens": compressor.stats.tokens,
        "lm_tokens_per_second": round(compressor.stats.tokens_per_second, 1),
        "tokens_before": before,
        "tokens_after": after,
        "kept_ratio": round(after / before, 4) if before else 1.0,
    }


def _describe(segmenter: Segmenter) -> dict[str, Any]:
    options = segmenter.options.model_dump(mode="json")
    return {"class": type(segmenter).__name__, **options}
