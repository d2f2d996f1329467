"""Hybrid topic segmentation: attention and similarity, combined.

Both signals work on the same unit, the buffered turns, and are combined by an explicit
``rule``:

- ``"fusion"`` (default): the gap signals themselves are fused, not their boundaries: the
  similarity segmenter's cohesion signals (embeddings, words) and the attention the turns
  after each gap pay to the turns before it, z-scored and weighted by how well each agrees
  with the others (:func:`~lightmem.sensory.segmenters.cohesion.fuse`), then cut at the
  deepest minima (``z``, ``min_turns``). On ``lightmem bench segmentation`` it beat each
  signal alone on both streams, and attention fades out by itself on a buffer where it
  agrees with nothing;
- ``"intersection"`` (the LightMem paper's rule on boundaries): keep the similarity boundaries that
  lie within ``tolerance`` turns of an attention boundary; when none does, keep the
  similarity boundaries (the paper's rule too: a small buffer often has no attention peak,
  and cutting nowhere would leave the pipeline to cut at the buffer's end);
  ``empty_intersection="none"`` cuts nowhere instead;
- ``"union"``: every similarity boundary, plus the attention boundaries farther than
  ``tolerance`` from all of them;
- ``"attention"`` / ``"similarity"``: one signal alone.

While :attr:`CombinedSegmenter.pause` says so (the pipeline sets it to the LLM endpoint being
unreachable), a buffer is segmented by similarity alone, as in no-LLM mode: its batch waits
for the endpoint anyway, and the attention pass (the costliest step of an ingest on a CPU)
would turn an outage into an ingest several times slower. :attr:`CombinedSegmenter.paused`
counts those buffers.

When no attention model is installed the segmenter falls back to similarity alone: it logs a
warning once and says so in :attr:`CombinedSegmenter.fallback` (``None`` while both signals
are in use) and :attr:`CombinedSegmenter.effective_rule`. Only a *missing* model is a reason
to fall back; a model path that was configured but does not load raises.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from lightmem.embedders.base import Vectors
from lightmem.errors import MissingDependencyError
from lightmem.sensory.segmenters.attention import AttentionOptions, AttentionSegmenter
from lightmem.sensory.segmenters.base import Segmenter
from lightmem.sensory.segmenters.cohesion import Histories, fuse_calibrated, pick_low
from lightmem.sensory.segmenters.similarity import SimilarityOptions, SimilaritySegmenter
from lightmem.types import Turn

log = logging.getLogger(__name__)

Rule = Literal["fusion", "intersection", "union", "attention", "similarity"]


class CombinedOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rule: Rule = "fusion"
    z: float = Field(1.0, ge=0.0, description="fusion: cut where the fused signal < -z std")
    min_turns: int = Field(3, ge=1, description="fusion: shortest segment")
    tolerance: int = Field(1, ge=0, description="turns between matching boundaries")
    empty_intersection: Literal["similarity", "none"] = Field(
        "similarity", description="what an empty intersection yields"
    )
    attention: AttentionOptions = Field(default_factory=AttentionOptions)
    similarity: SimilarityOptions = Field(default_factory=SimilarityOptions)


def combine(
    attention: Sequence[int],
    similarity: Sequence[int],
    *,
    rule: Rule,
    tolerance: int,
    empty_intersection: Literal["similarity", "none"] = "similarity",
) -> list[int]:
    """Combine two sorted boundary lists by ``rule`` (see the module docstring)."""

    def near(i: int, others: Sequence[int]) -> bool:
        return any(abs(i - o) <= tolerance for o in others)

    if rule == "attention":
        return sorted(set(attention))
    if rule == "similarity":
        return sorted(set(similarity))
    if rule == "intersection":
        both = sorted({s for s in similarity if near(s, attention)})
        if not both and empty_intersection == "similarity":
            return sorted(set(similarity))
        return both
    if rule == "union":
        return sorted(set(similarity) | {a for a in attention if not near(a, similarity)})
    if rule == "fusion":
        raise ValueError("the fusion rule combines gap signals, not boundary lists")
    raise ValueError(f"unknown combination rule {rule!r}")


class CombinedSegmenter(Segmenter):
    Options = CombinedOptions

    def __init__(self, options: CombinedOptions | None = None) -> None:
        self.opts = options if options is not None else CombinedOptions()
        super().__init__(self.opts)
        self.attention = AttentionSegmenter(self.opts.attention)
        self.similarity = SimilaritySegmenter(self.opts.similarity)
        #: why the attention signal is not used (None while it is)
        self.fallback: str | None = None
        #: fusion: the weights of the last buffer's signals (similarity's, then attention)
        self.last_weights: list[float] = []
        #: fusion: each owner's running gap statistics (its stream calibrates the cut-off)
        self.histories = Histories()
        #: a buffer is segmented by similarity alone while this returns True
        self.pause: Callable[[], bool] | None = None
        #: buffers segmented without attention because of :attr:`pause`
        self.paused = 0

    @property
    def lookahead(self) -> int:
        return max(self.similarity.lookahead, self.attention.lookahead)

    @property
    def effective_rule(self) -> Rule:
        """The rule actually applied: ``"similarity"`` after a fallback."""
        return "similarity" if self.fallback is not None else self.opts.rule

    def boundaries(self, turns: list[Turn], embeddings: Vectors) -> list[int]:
        rule = self.opts.rule
        if rule != "similarity" and self.pause is not None and self.pause():
            self.paused += 1
            return self.similarity.boundaries(turns, embeddings)
        if rule == "fusion":
            return self._fused(turns, embeddings)
        fine = self.similarity.boundaries(turns, embeddings) if rule != "attention" else []
        if rule == "similarity" or not self._attention_available():
            return fine
        coarse = self.attention.boundaries(turns, embeddings)
        return combine(
            coarse,
            fine,
            rule=rule,
            tolerance=self.opts.tolerance,
            empty_intersection=self.opts.empty_intersection,
        )

    def _fused(self, turns: list[Turn], embeddings: Vectors) -> list[int]:
        if len(turns) < 2:
            return []
        signals = self.similarity.signals(turns, embeddings)
        if self._attention_available():
            signals.append(self.attention.consecutive([t.view for t in turns]))
        history = self.histories.get(turns[0].scope.owner, len(signals))
        keys = [t.id for t in turns[1:]]
        fused, self.last_weights, cut = fuse_calibrated(history, keys, signals, self.opts.z)
        return pick_low(fused, z=self.opts.z, min_turns=self.opts.min_turns, threshold=cut)

    def _attention_available(self) -> bool:
        if self.fallback is not None:
            return False
        try:
            self.attention.load()
        except MissingDependencyError as exc:
            if self.opts.rule == "attention":
                raise
            self.fallback = f"no attention model, segmenting by similarity only: {exc}"
            log.warning("combined segmenter: %s", self.fallback)
            return False
        return True
