"""The retrieval layer's BM25 terms and index: pure functions on hand-built inputs."""

from __future__ import annotations

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
