import numpy as np

from lightmem.embedders.base import normalize
from lightmem.sensory.segmenters.similarity import consecutive_similarities, pick_boundaries
from lightmem.sensory.stage import session_cuts, split_at
from lightmem.types import Scope, Turn


def turns(*sessions: str) -> list[Turn]:
    return [
        Turn(id=str(i), scope=Scope("u"), seq=i, role="user", content="x", session_id=s)
        for i, s in enumerate(sessions)
    ]


def test_consecutive_similarities() -> None:
    e = normalize(np.array([[1, 0], [1, 0], [0, 1]], dtype=np.float32))
    assert np.allclose(consecutive_similarities(e), [1.0, 0.0])


def test_boundary_at_topic_change() -> None:
    # two topics: three turns near axis x, three near axis y
    e = normalize(np.array([[1, 0.1], [1, 0.2], [1, 0.1], [0.1, 1], [0.2, 1], [0.1, 1]]))
    sims = consecutive_similarities(e)
    assert pick_boundaries(sims, threshold=None, z=0.5, min_turns=2) == [3]


def test_fixed_threshold_and_min_turns() -> None:
    sims = np.array([0.9, 0.1, 0.9, 0.2, 0.9])
    assert pick_boundaries(sims, threshold=0.5, z=0, min_turns=1) == [2, 4]
    # min_turns=2 keeps both (2 apart); min_turns=3 forbids a first segment of 2 turns
    assert pick_boundaries(sims, threshold=0.5, z=0, min_turns=2) == [2, 4]
    assert pick_boundaries(sims, threshold=0.5, z=0, min_turns=3) == [4]
    # of two adjacent low similarities only the local minimum is a candidate
    assert pick_boundaries(
        np.array([0.9, 0.9, 0.3, 0.2, 0.9]), threshold=0.5, z=0, min_turns=2
    ) == [4]


def test_no_boundary_in_uniform_stream() -> None:
    assert pick_boundaries(np.full(5, 0.8), threshold=None, z=0.5, min_turns=1) == []


def test_session_changes_cut() -> None:
    ts = turns("s1", "s1", "s2", "s2", "s3")
    assert session_cuts(ts) == [2, 4]
    parts = split_at(ts, [4, 2, 2, 0, 99])
    assert [[t.id for t in p] for p in parts] == [["0", "1"], ["2", "3"], ["4"]]
