"""The retrieval layer's BM25 terms and index: pure functions on hand-built inputs."""

from __future__ import annotations

import pytest

from lightmem.retrieval.lexical import BM25Index, stem, terms


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
    assert terms("When did Caroline go CAMPING at the Café?") == ["caroline", "go", "camp", "cafe"]


def test_bm25_ranks_rarer_and_repeated_terms_higher() -> None:
    docs = [terms(t) for t in ("we went camping", "camping camping trip", "a quiet day at home")]
    index = BM25Index(docs)
    scores = index.scores(terms("camping trip"))
    assert set(scores) == {0, 1}  # the third shares no term
    assert scores[1] > scores[0] > 0


def test_bm25_empty_and_unknown() -> None:
    assert BM25Index([]).scores(["x"]) == {}
    assert BM25Index([["a"]]).scores(["zzz"]) == {}
