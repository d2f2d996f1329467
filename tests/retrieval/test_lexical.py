"""The retrieval layer's BM25 terms and index: pure functions on hand-built inputs."""

from __future__ import annotations

import random

import numpy as np
import pytest

from lightmem.retrieval.bm25 import LiveBM25
from lightmem.retrieval.lexical import stem, terms


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("camping", "camp"),
        ("camped", "camp"),
        ("camps", "camp"),
        ("parties", "party"),
        ("glass", "glass"),
        ("is", "is"),
        ("2023", "2023"),
    ],
)
def test_stem(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_terms_fold_stop_and_stem() -> None:
    assert terms("When did Caroline go CAMPING at the Café?") == ["carolin", "go", "camp", "cafe"]


def test_bm25_ranks_rarer_and_repeated_terms_higher() -> None:
    docs = [terms(t) for t in ("we went camping", "camping camping trip", "a quiet day at home")]
    index = LiveBM25.of(docs)
    scores = index.scores(terms("camping trip"))
    assert set(scores) == {0, 1}  # the third shares no term
    assert scores[1] > scores[0] > 0


def test_bm25_empty_and_unknown() -> None:
    assert LiveBM25.of([]).scores(["x"]) == {}
    assert LiveBM25.of([["a"]]).scores(["zzz"]) == {}


def test_a_thawed_index_scores_and_changes_as_the_live_one() -> None:
    """An index snapshot holds BM25 frozen into arrays; thawed, it answers every query as
    the live index, and after any writes (each touching frozen terms and rows) still does."""
    rng = random.Random(7)
    vocab = [f"w{i}" for i in range(40)]
    live = LiveBM25()
    for row in range(200):
        live.put(row, rng.choices(vocab, k=rng.randint(0, 12)))
    for row in rng.sample(range(200), 30):
        live.remove(row)
    queries = [rng.sample(vocab, 3) for _ in range(20)] + [["w1"], ["nowhere"]]

    def same(a: LiveBM25, b: LiveBM25) -> None:
        assert a.size == b.size and a.nbytes == b.nbytes
        for q in queries:
            np.testing.assert_allclose(a.score_array(q, 260), b.score_array(q, 260), rtol=1e-6)
        assert a.scores(["w3", "w9"]) == pytest.approx(b.scores(["w3", "w9"]))

    thawed = LiveBM25.thawed(*live.freeze())
    same(live, thawed)
    for step in range(400):
        row = rng.randrange(260)
        if rng.random() < 0.6:
            doc = rng.choices(vocab, k=rng.randint(0, 12))
            live.put(row, doc)
            thawed.put(row, doc)
        else:
            live.remove(row)
            thawed.remove(row)
        if step % 50 == 0:
            same(live, thawed)
    same(live, thawed)
    same(live, LiveBM25.thawed(*thawed.freeze()))  # frozen again, partly thawed
    # a frozen term whose every row goes, then comes back on a new row
    base = LiveBM25.of([["solo", "a"], ["b"], ["solo", "c"]])
    for index in (base, LiveBM25.thawed(*base.freeze())):
        index.remove(0)
        index.remove(2)
        assert index.scores(["solo"]) == {}
        index.put(5, ["solo"])
        assert list(index.scores(["solo"])) == [5]
