"""The sensory stage: compress and embed new turns, then cut the buffer into topic segments.

The buffer is segmented each time ``buffer_tokens`` new tokens have arrived. A cut needs
the turns after it (the segmenters compare windows of turns each side of a gap), so cuts
closer to the buffer's end than the segmenter's ``lookahead`` wait for the next pass; the
open segment after the last cut is carried over to the next buffer (as in the paper), not
cut at the buffer's end, until it reaches ``max_segment_tokens``. A session change always
cuts.

Everything it reads and writes is store state, so a killed process resumes here (it only
segments a little earlier than it would have).
"""

from __future__ import annotations

import itertools
import logging
import time

import numpy as np

from lightmem.embedders.base import Embedder
from lightmem.embedders.images import ImageEmbedder
from lightmem.errors import ConflictError
from lightmem.ids import new_id
from lightmem.sensory.compressors.base import Compressor
from lightmem.sensory.segmenters.base import Segmenter
from lightmem.stores.base import Store
from lightmem.tokens import count_tokens
from lightmem.types import Scope, Turn, TurnStage

log = logging.getLogger(__name__)


def turn_embedding_text(turn: Turn, view: str) -> str:
    """Turns are embedded as 'Speaker: text', the same string a no-LLM entry holds, so the
    vector is computed once and reused."""
    return f"{turn.label}: {' '.join(view.split())}"


def split_at(turns: list[Turn], cuts: list[int]) -> list[list[Turn]]:
    bounds = [0, *sorted(c for c in set(cuts) if 0 < c < len(turns)), len(turns)]
    return [turns[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def session_cuts(turns: list[Turn]) -> list[int]:
    """A new session always starts a new segment."""
    return [i for i in range(1, len(turns)) if turns[i].session_id != turns[i - 1].session_id]


def plan_cuts(
    boundaries: list[int],
    certain: list[int],
    tokens: list[int],
    *,
    lookahead: int,
    max_open_tokens: int,
    force: bool,
) -> tuple[list[int], int]:
    """Where to cut a buffer of ``len(tokens)`` turns, and where the open segment carried
    over starts (``len(tokens)`` when nothing is carried).

    ``boundaries`` (the segmenter's) count only with ``lookahead`` turns after them unless
    ``force``; ``certain`` cuts (session changes) always count. Without ``force`` the
    segment after the last cut stays open while it holds fewer than ``max_open_tokens``.
    """
    n = len(tokens)
    trusted = boundaries if force else [b for b in boundaries if b <= n - lookahead]
    cuts = sorted({c for c in [*trusted, *certain] if 0 < c < n})
    last = cuts[-1] if cuts else 0
    if force or sum(tokens[last:]) >= max_open_tokens:
        return cuts, n
    return cuts, last


class SensoryStage:
    def __init__(
        self,
        store: Store,
        compressor: Compressor,
        embedder: Embedder,
        segmenter: Segmenter,
        *,
        buffer_tokens: int,
        timings: dict[str, float],
        max_segment_tokens: int | None = None,
        image_embedder: ImageEmbedder | None = None,
    ) -> None:
        self.image_embedder = image_embedder
        self.store = store
        self.compressor = compressor
        self.embedder = embedder
        self.segmenter = segmenter
        self.buffer_tokens = buffer_tokens
        self.max_segment_tokens = max_segment_tokens or 8 * buffer_tokens
        self.timings = timings
        #: owner -> ids of the buffered turns the last pass saw (they do not count as new)
        self._seen: dict[Scope, set[str]] = {}

    def prepare(self, turns: list[Turn]) -> None:
        """Compute the compressed view, token count and embedding of turns that lack them."""
        missing = [t for t in turns if t.compressed is None]
        if not missing:
            return
        t0 = time.perf_counter()
        views = self.compressor.compress([t.content for t in missing])
        t1 = time.perf_counter()
        vectors = self.embedder.embed(
            [turn_embedding_text(t, v) for t, v in zip(missing, views, strict=True)]
        )
        t2 = time.perf_counter()
        rows = [(t.id, v, count_tokens(v)) for t, v in zip(missing, views, strict=True)]
        self._embed_images(missing)
        self.store.set_turn_views(rows, vectors)
        for t, (_, v, n) in zip(missing, rows, strict=True):
            t.compressed, t.tokens = v, n
        self._add("compression", t1 - t0)
        self._add("embedding", t2 - t1)

    def _embed_images(self, turns: list[Turn]) -> None:
        """The image embedder's vectors of the turns' images (when one is configured),
        stored before the turns' vectors: once a turn is searched densely, so are its
        images."""
        if self.image_embedder is None:
            return
        keys = [(t.id, n) for t in turns for n in range(len(t.images))]
        if not keys:
            return
        t0 = time.perf_counter()
        vectors = self.image_embedder.embed_images([i for t in turns for i in t.images])
        self.store.set_image_vectors(keys, self.image_embedder.model_id, vectors)
        self._add("image_embedding", time.perf_counter() - t0)

    def process(self, owner: Scope, *, force: bool) -> int:
        """Segment the owner's sensory buffer when it is full (or ``force``); returns the
        number of segments moved to short-term memory."""
        turns = self.store.list_turns(owner, stage=TurnStage.SENSORY)
        if not turns:
            return 0
        self.prepare(turns)
        seen = self._seen.get(owner, set())
        new = sum(t.tokens for t in turns if t.id not in seen)
        if new < self.buffer_tokens and not force:
            return 0
        t0 = time.perf_counter()
        stored = self.store.turn_vectors([t.id for t in turns])
        matrix = np.stack([stored[t.id] for t in turns]).astype(np.float32)
        cuts, carry = plan_cuts(
            self.segmenter.boundaries(turns, matrix),
            session_cuts(turns),
            [t.tokens for t in turns],
            lookahead=self.segmenter.lookahead,
            max_open_tokens=self.max_segment_tokens,
            force=force,
        )
        segments = split_at(turns[:carry], cuts)
        self._seen[owner] = {t.id for t in turns[carry:]}
        if segments:
            try:
                self.store.assign_segments([(new_id(), [t.id for t in seg]) for seg in segments])
            except ConflictError:
                # another process segmented (some of) these turns first: nothing is lost,
                # the next pass sees the buffer as it is now
                log.info("the sensory buffer was segmented by another worker")
                return 0
        self._add("segmentation", time.perf_counter() - t0)
        return len(segments)

    def _add(self, stage: str, seconds: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds
