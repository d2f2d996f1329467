"""Topic boundaries from how similar the turns on either side of a gap are.

Two cohesion signals over windows of ``window`` turns each side of every gap
(:mod:`lightmem.sensory.segmenters.cohesion`): the cosine of the mean embeddings (meaning)
and, with ``lexical``, the cosine of the TF-IDF word vectors (names and topic words). They
are fused with agreement weights and a boundary is placed at each local minimum below
``mean - z * std`` (or below a fixed ``threshold``), segments at least ``min_turns`` long.
The statistics are the owner's stream's so far, not the buffer's alone
(:class:`~lightmem.sensory.segmenters.cohesion.GapHistory`).

The defaults were chosen on ``lightmem bench segmentation`` (both streams): windows beat
single consecutive turns (a short reply like "Wow, great!" resembles nothing), and the
lexical signal adds what embeddings of chit-chat miss (the people and things talked about).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from lightmem.embedders.base import Vectors
from lightmem.sensory.segmenters.base import Segmenter
from lightmem.sensory.segmenters.cohesion import (
    Histories,
    Signal,
    embedding_cohesion,
    fuse,
    fuse_calibrated,
    lexical_cohesion,
    pick_low,
)
from lightmem.types import Turn


class SimilarityOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window: int = Field(4, ge=1, le=32, description="turns each side of a gap compared")
    lexical: bool = Field(True, description="fuse TF-IDF word cohesion with the embeddings")
    threshold: float | None = Field(
        None, description="fixed cut-off on the fused z-scores (default: mean - z * std)"
    )
    z: float = Field(1.0, ge=0.0, description="adaptive cut-off: mean - z * std")
    min_turns: int = Field(3, ge=1)


def consecutive_similarities(embeddings: Vectors) -> np.ndarray:
    """``sims[i-1] = cos(e[i-1], e[i])`` for unit-norm rows (a window of one turn)."""
    if len(embeddings) < 2:
        return np.zeros(0, dtype=np.float32)
    return np.einsum("ij,ij->i", embeddings[:-1], embeddings[1:])


class SimilaritySegmenter(Segmenter):
    Options = SimilarityOptions

    def __init__(self, options: SimilarityOptions | None = None) -> None:
        self.opts = options if options is not None else SimilarityOptions()
        super().__init__(self.opts)
        self.histories = Histories()

    @property
    def lookahead(self) -> int:
        return self.opts.window

    def signals(self, turns: list[Turn], embeddings: Vectors) -> list[Signal]:
        """The cohesion signals of every gap (embedding, then lexical when enabled)."""
        out = [embedding_cohesion(embeddings, self.opts.window)]
        if self.opts.lexical:
            out.append(lexical_cohesion([t.view for t in turns], self.opts.window))
        return out

    def boundaries(self, turns: list[Turn], embeddings: Vectors) -> list[int]:
        if len(turns) < 2:
            return []
        signals = self.signals(turns, embeddings)
        if self.opts.threshold is not None:
            fused, _ = fuse(signals)
            return pick_low(
                fused, z=self.opts.z, min_turns=self.opts.min_turns, threshold=self.opts.threshold
            )
        history = self.histories.get(turns[0].scope.owner, len(signals))
        keys = [t.id for t in turns[1:]]
        fused, _, cut = fuse_calibrated(history, keys, signals, self.opts.z)
        return pick_low(fused, z=self.opts.z, min_turns=self.opts.min_turns, threshold=cut)
