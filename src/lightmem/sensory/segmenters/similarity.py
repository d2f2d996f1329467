"""Fine topic boundaries from embedding similarity of consecutive turns.

A boundary is placed before turn ``i`` when the cosine similarity of turns ``i-1`` and ``i``
is a local minimum and falls below an adaptive threshold: ``mean - z * std`` of the
buffer's consecutive similarities (or a fixed ``threshold`` when configured). Segments
shorter than ``min_turns`` are not cut.
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from lightmem.embedders.base import Vectors
from lightmem.sensory.segmenters.base import Segmenter
from lightmem.types import Turn


class SimilarityOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    threshold: float | None = Field(None, ge=-1.0, le=1.0, description="fixed cut-off")
    z: float = Field(0.5, ge=0.0, description="adaptive cut-off: mean - z * std")
    min_turns: int = Field(2, ge=1)


def consecutive_similarities(embeddings: Vectors) -> np.ndarray:
    """``sims[i-1] = cos(e[i-1], e[i])`` for unit-norm rows."""
    if len(embeddings) < 2:
        return np.zeros(0, dtype=np.float32)
    return np.einsum("ij,ij->i", embeddings[:-1], embeddings[1:])


def pick_boundaries(
    sims: np.ndarray, *, threshold: float | None, z: float, min_turns: int
) -> list[int]:
    """Pure boundary picking over consecutive similarities (see module docstring)."""
    n = len(sims) + 1
    if n < 2:
        return []
    cut = float(threshold) if threshold is not None else float(sims.mean() - z * sims.std())
    candidates = []
    for j, s in enumerate(sims):
        left = sims[j - 1] if j > 0 else np.inf
        right = sims[j + 1] if j + 1 < len(sims) else np.inf
        if s < cut and s <= left and s <= right:
            candidates.append((float(s), j + 1))
    chosen: list[int] = []
    for _, i in sorted(candidates):  # strongest (lowest similarity) first
        if all(abs(i - c) >= min_turns for c in chosen) and i >= min_turns and n - i >= 1:
            chosen.append(i)
    return sorted(chosen)


class SimilaritySegmenter(Segmenter):
    Options = SimilarityOptions

    def boundaries(self, turns: list[Turn], embeddings: Vectors) -> list[int]:
        opts = self.options
        assert isinstance(opts, SimilarityOptions)
        return pick_boundaries(
            consecutive_similarities(embeddings),
            threshold=opts.threshold,
            z=opts.z,
            min_turns=opts.min_turns,
        )
