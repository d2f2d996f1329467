"""The segmentation benchmark: P/R/F1 (pure), stream building, and the buffered replay."""

from __future__ import annotations

import numpy as np
import pytest

from lightmem.datasets import Conversation, DatasetTurn
from lightmem.embedders.base import Vectors
from lightmem.embedders.hashing import HashEmbedder
from lightmem.sensory.segmenters.base import Segmenter
from lightmem.sensory.segmenters.similarity import SimilaritySegmenter
from lightmem.types import Turn
from lightmem_bench.segmentation.run import (
    boundary_prf,
    build_stream,
    run_segmentation_bench,
    segment_stream,
)
from tests.conftest import shared_data_dir


def test_prf_matches_within_one_turn_one_to_one() -> None:
    s = boundary_prf([10, 21, 40, 41], [10, 20, 40], tolerance=1)
    assert (s.matched, s.predicted, s.true) == (3, 4, 3)
    assert s.precision == pytest.approx(0.75) and s.recall == pytest.approx(1.0)
    assert s.f1 == pytest.approx(2 * 0.75 / 1.75)
    # 41 cannot also claim 40, and 22 is two turns off
    assert boundary_prf([22], [20], tolerance=1).matched == 0
    assert boundary_prf([22], [20], tolerance=2).matched == 1


def test_prf_closest_pairs_match_first() -> None:
    # 11 is 1 from 10 and 1 from 12; 12 is exact: 12-12 first, then 11-10
    assert boundary_prf([11, 12], [10, 12], tolerance=1).matched == 2
    assert boundary_prf([11], [10, 12], tolerance=1).matched == 1


def test_prf_empty_sides() -> None:
    assert boundary_prf([], [3]).f1 == 0.0
    assert boundary_prf([3], []).precision == 0.0
    assert boundary_prf([], []).f1 == 0.0


def _conversation(name: str, speakers: tuple[str, str], sessions: int, turns: int) -> Conversation:
    out = [
        DatasetTurn(
            ref=f"D{s}:{i}",
            session_id=f"session_{s}",
            role="user",
            speaker=speakers[i % 2],
            content=f"{name} s{s} t{i}",
            timestamp=None,
        )
        for s in range(1, sessions + 1)
        for i in range(turns)
    ]
    return Conversation(name, out, [])


def test_stream_interleaves_sources_and_hides_sessions_and_names() -> None:
    a = _conversation("a", ("Caroline", "Melanie"), 3, 2)
    b = _conversation("b", ("Jon", "Gina"), 1, 3)
    stream = build_stream("mixed", [a, b], max_sessions=2)
    assert [t.content for t in stream.turns] == [
        "a s1 t0",
        "a s1 t1",
        "b s1 t0",
        "b s1 t1",
        "b s1 t2",
        "a s2 t0",
        "a s2 t1",
    ]
    assert stream.truth == [2, 5] and stream.sessions == 3
    assert {t.session_id for t in stream.turns} == {None}
    assert [t.speaker for t in stream.turns[:3]] == ["user", "assistant", "user"]
    assert stream.turns[5].ref == "a:D2:0"


class FixedSegmenter(Segmenter):
    """Cuts every buffer after its third turn; records the buffers it saw."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[list[str]] = []

    def boundaries(self, turns: list[Turn], embeddings: Vectors) -> list[int]:
        self.seen.append([t.id for t in turns])
        return [3] if len(turns) > 3 else []


def test_buffered_replay_carries_the_residual_like_the_pipeline() -> None:
    stream = build_stream("s", [_conversation("a", ("x", "y"), 1, 10)])
    vectors = np.zeros((10, 4), dtype=np.float32)
    seg = FixedSegmenter()
    whole = segment_stream(seg, stream.turns, vectors)
    assert whole == [3]
    seg = FixedSegmenter()
    # each turn is 5 tokens ("a s1 tN"): a 20-token buffer fills every 4 turns
    cuts = segment_stream(seg, stream.turns, vectors, buffer_tokens=20)
    assert seg.seen[0] == ["0", "1", "2", "3"]
    assert seg.seen[1][0] == "3"  # the residual after the cut carried over
    assert 3 in cuts and all(0 < c < 10 for c in cuts)


def test_similarity_finds_the_true_boundaries_of_disjoint_topics() -> None:
    a = Conversation(
        "a",
        [
            DatasetTurn(f"a{i}", "s1", "user", "p", text, None)
            for i, text in enumerate(["dogs bark loudly", "dogs chase cats", "cats and dogs fight"])
        ],
        [],
    )
    b = Conversation(
        "b",
        [
            DatasetTurn(f"b{i}", "s1", "user", "q", text, None)
            for i, text in enumerate(["tax forms due", "tax report forms", "file the tax forms"])
        ],
        [],
    )
    stream = build_stream("toy", [a, b])
    emb = HashEmbedder()
    vectors = emb.embed([t.content for t in stream.turns])
    cuts = segment_stream(SimilaritySegmenter(), stream.turns, vectors)
    assert boundary_prf(cuts, stream.truth).recall == 1.0


def test_bench_runs_end_to_end_on_the_shared_data() -> None:
    data = shared_data_dir()
    if data is None:
        pytest.skip("shared/data is not beside the checkout")
    result = run_segmentation_bench(
        data / "locomo-dev.json",
        data / "longmemeval-single.json",
        max_sessions=2,
        segmenters={"similarity": SimilaritySegmenter()},
        embedder=HashEmbedder(),
        compression=False,
    )
    mixed = result["streams"]["mixed"]
    assert mixed["sessions"] == 8 and mixed["true_boundaries"] == 7
    assert set(mixed["scores"]["similarity"]) >= {"precision", "recall", "f1", "predicted"}
    assert result["streams"]["longmemeval"]["true_boundaries"] == 52
    assert "compression" not in result
