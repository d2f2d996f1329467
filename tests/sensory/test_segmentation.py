import numpy as np
import pytest

from lightmem.embedders.base import normalize
from lightmem.sensory.segmenters.cohesion import (
    GapHistory,
    Histories,
    agreement_weights,
    embedding_cohesion,
    fuse,
    fuse_calibrated,
    lexical_cohesion,
    pick_low,
)
from lightmem.sensory.segmenters.similarity import (
    SimilarityOptions,
    SimilaritySegmenter,
    consecutive_similarities,
)
from lightmem.sensory.stage import plan_cuts, session_cuts, split_at
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
    assert pick_low(sims, threshold=None, z=0.5, min_turns=2) == [3]
    # windows of two turns each side see the same change, more sharply than single turns
    windowed = embedding_cohesion(e, 2)
    assert int(np.argmin(windowed)) + 1 == 3
    assert pick_low(windowed, z=0.5, min_turns=2) == [3]


def test_fixed_threshold_and_min_turns() -> None:
    sims = np.array([0.9, 0.1, 0.9, 0.2, 0.9])
    assert pick_low(sims, threshold=0.5, z=0, min_turns=1) == [2, 4]
    # min_turns=2 keeps both (2 apart); min_turns=3 forbids a first segment of 2 turns
    assert pick_low(sims, threshold=0.5, z=0, min_turns=2) == [2, 4]
    assert pick_low(sims, threshold=0.5, z=0, min_turns=3) == [4]
    # of two adjacent low similarities only the local minimum is a candidate
    assert pick_low(np.array([0.9, 0.9, 0.3, 0.2, 0.9]), threshold=0.5, z=0, min_turns=2) == [4]


def test_no_boundary_in_uniform_stream() -> None:
    assert pick_low(np.full(5, 0.8), threshold=None, z=0.5, min_turns=1) == []


def test_session_changes_cut() -> None:
    ts = turns("s1", "s1", "s2", "s2", "s3")
    assert session_cuts(ts) == [2, 4]
    parts = split_at(ts, [4, 2, 2, 0, 99])
    assert [[t.id for t in p] for p in parts] == [["0", "1"], ["2", "3"], ["4"]]


def test_lexical_cohesion_drops_where_the_words_change() -> None:
    texts = [
        "Caroline went to the pottery class",
        "the pottery class with Caroline was fun",
        "Caroline loved the pottery",
        "John talked about the election campaign",
        "the campaign office of John",
        "John and the election volunteers",
    ]
    values = lexical_cohesion(texts, 2)
    assert len(values) == 5
    assert int(np.argmin(values)) == 2  # the gap before turn 3
    assert values[2] == 0.0  # no shared word across it
    assert min(values[0], values[4]) > 0.2


def test_fusion_weights_follow_agreement() -> None:
    rng = np.random.default_rng(0)
    topic = np.tile([1.0, 1.0, 1.0, 0.0], 20)  # a drop every four gaps
    a = topic + 0.2 * rng.standard_normal(80)
    b = topic + 0.2 * rng.standard_normal(80)
    noise = rng.standard_normal(80)
    w = agreement_weights([a, b, noise])
    # a and b agree with each other (correlation ~0.8) and not with the noise: ~0.4 each
    assert w[0] > 0.3 and w[1] > 0.3 and w[2] < 0.1
    fused, weights = fuse([a, b, noise])
    assert weights == w
    cuts = pick_low(fused, z=1.0, min_turns=2)
    assert set(cuts) <= {g for g in range(1, 81) if topic[g - 1] == 0.0}
    assert len(cuts) >= 15
    # nothing agrees with anything: equal weights, not a division by zero
    assert agreement_weights([np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])]) == [1.0, 1.0]


def test_similarity_segmenter_cuts_between_topics() -> None:
    axes = [[1, 0.1, 0], [1, 0.15, 0.05], [1, 0.05, 0.1], [0.1, 1, 0], [0.15, 1, 0.1], [0, 1, 0.05]]
    e = normalize(np.array(axes * 3, dtype=np.float32))
    ts = [
        Turn(
            id=str(i),
            scope=Scope("u"),
            seq=i,
            role="user",
            content=["tea cups", "ski trip"][i // 3 % 2],
        )
        for i in range(len(e))
    ]
    seg = SimilaritySegmenter(SimilarityOptions(window=2, z=0.5, min_turns=2))
    assert seg.boundaries(ts, e) == [3, 6, 9, 12, 15]
    assert len(seg.signals(ts, e)) == 2
    assert len(SimilaritySegmenter(SimilarityOptions(lexical=False)).signals(ts, e)) == 1


def test_cuts_near_the_buffer_end_wait_and_the_open_segment_carries_over() -> None:
    tokens = [10] * 12
    # a cut at 9 has only 3 turns after it: with a lookahead of 4 it waits for the next pass
    cuts, carry = plan_cuts([4, 9], [], tokens, lookahead=4, max_open_tokens=1000, force=False)
    assert (cuts, carry) == ([4], 4)  # turns 4.. stay in the buffer as the open segment
    # a session change always cuts; the open segment starts after it
    cuts, carry = plan_cuts([4, 9], [10], tokens, lookahead=4, max_open_tokens=1000, force=False)
    assert (cuts, carry) == ([4, 10], 10)
    # nothing to cut: everything stays open, until it reaches max_open_tokens
    assert plan_cuts([], [], tokens, lookahead=4, max_open_tokens=1000, force=False) == ([], 0)
    assert plan_cuts([], [], tokens, lookahead=4, max_open_tokens=120, force=False) == ([], 12)
    # a flush takes every cut and carries nothing
    assert plan_cuts([4, 9], [], tokens, lookahead=4, max_open_tokens=1000, force=True) == (
        [4, 9],
        12,
    )


def test_a_stream_calibrates_its_own_cut_off_counting_each_gap_once() -> None:
    rng = np.random.default_rng(3)
    topic = np.tile([1.0, 1.0, 1.0, 1.0, 0.0], 12)  # a drop every five gaps
    a = topic + 0.1 * rng.standard_normal(60)
    b = topic + 0.15 * rng.standard_normal(60)
    keys = [f"t{i}" for i in range(1, 61)]
    # one call: exactly the buffer's own statistics
    whole = GapHistory(2)
    fused, weights, cut = fuse_calibrated(whole, keys, [a, b], 1.0)
    plain, plain_weights = fuse([a, b])
    assert np.allclose(fused, plain) and np.allclose(weights, plain_weights)
    assert cut == pytest.approx(float(plain.mean() - plain.std()))
    # overlapping buffers of a stream: each gap counted once, the moments the whole stream's
    history = GapHistory(2)
    for lo, hi in ((0, 20), (15, 40), (35, 60)):
        fuse_calibrated(history, keys[lo:hi], [a[lo:hi], b[lo:hi]], 1.0)
    assert history.n == 60
    assert np.allclose(history.moments()[0], whole.moments()[0])
    # a short buffer cut with the stream's statistics finds its drop
    short, _, cut = fuse_calibrated(history, keys[40:52], [a[40:52], b[40:52]], 1.0)
    assert history.n == 60  # nothing new
    assert pick_low(short, z=1.0, min_turns=2, threshold=cut) == [5, 10]


def test_histories_are_per_stream_and_bounded() -> None:
    h = Histories(size=2)
    first = h.get("alice", 3)
    assert h.get("alice", 3) is first and h.get("alice", 2) is not first  # signals changed
    h.get("bob", 3)
    h.get("carol", 3)
    assert h.get("alice", 2) is not first and len(h._by) == 2
