"""Retrieval metrics on hand-built rankings."""

from __future__ import annotations

import math

import pytest

from lightmem.errors import InputError
from lightmem_bench.metrics import (
    aggregate,
    budget_cut,
    count_budget_tokens,
    hit_at_budget,
    hit_at_k,
    ndcg_any_at_k,
    recall_all_at_k,
    recall_any_at_k,
    recall_at_budget,
    recall_at_k,
    session_k,
)

# Four ranked units; the second is a segment covering two turns.
RANKED = [["D1:1"], ["D2:3", "D2:4"], ["D1:7"], ["D3:1"]]


def test_hit_and_recall_at_k() -> None:
    evidence = {"D2:4", "D3:1"}
    assert hit_at_k(RANKED, evidence, 1) == 0.0
    assert hit_at_k(RANKED, evidence, 2) == 1.0
    assert recall_at_k(RANKED, evidence, 2) == 0.5
    assert recall_at_k(RANKED, evidence, 4) == 1.0
    assert recall_at_k(RANKED, evidence, 100) == 1.0  # k past the end is fine
    assert hit_at_k(RANKED, evidence, 0) == 0.0


def test_unit_covering_two_turns_counts_both() -> None:
    assert recall_at_k(RANKED, ["D2:3", "D2:4"], 2) == 1.0
    assert recall_at_k(RANKED, ["D2:3", "D2:4", "D1:7"], 2) == pytest.approx(2 / 3)


def test_dangling_evidence_is_unretrievable() -> None:
    evidence = {"D1:1", "D99:1"}  # D99:1 names no turn: it stays in the denominator
    assert hit_at_k(RANKED, evidence, 4) == 1.0
    assert recall_at_k(RANKED, evidence, 4) == 0.5
    assert hit_at_k(RANKED, {"D99:1"}, 4) == 0.0


def test_duplicate_evidence_counts_once() -> None:
    assert recall_at_k(RANKED, ["D1:1", "D1:1", "D3:1"], 1) == 0.5


def test_bad_arguments() -> None:
    with pytest.raises(InputError, match="no evidence"):
        hit_at_k(RANKED, set(), 3)
    with pytest.raises(InputError, match="non-negative"):
        recall_at_k(RANKED, {"D1:1"}, -1)
    with pytest.raises(InputError, match="list of refs"):
        hit_at_k(["D1:1", "D1:2"], {"D1:1"}, 2)  # a str is a Sequence[str] to mypy


def test_budget_cut() -> None:
    assert budget_cut([100, 200, 300], 1000) == 3
    assert budget_cut([100, 200, 300], 600) == 3  # exactly full still fits
    assert budget_cut([100, 200, 300], 599) == 2
    # the next unit would pass the budget: stop there, even if a later one would fit
    assert budget_cut([100, 900, 10], 500) == 1
    assert budget_cut([501, 10], 500) == 0
    assert budget_cut([], 500) == 0
    assert budget_cut([0, 0], 0) == 2
    with pytest.raises(InputError):
        budget_cut([10, -1], 500)
    with pytest.raises(InputError):
        budget_cut([10], -5)


def test_hit_and_recall_at_budget() -> None:
    tokens = [40, 120, 30, 50]
    evidence = {"D2:4", "D3:1"}
    assert hit_at_budget(RANKED, tokens, evidence, 100) == 0.0  # only the first unit fits
    assert hit_at_budget(RANKED, tokens, evidence, 160) == 1.0
    assert recall_at_budget(RANKED, tokens, evidence, 190) == 0.5  # D3:1 needs 240
    assert recall_at_budget(RANKED, tokens, evidence, 240) == 1.0
    with pytest.raises(InputError, match="one count per unit"):
        hit_at_budget(RANKED, [10, 20], evidence, 100)


def test_count_budget_tokens() -> None:
    assert count_budget_tokens("Caroline: I went, yesterday!") == 7
    assert count_budget_tokens("") == 0
    assert count_budget_tokens("don't") == 3  # don ' t


# LongMemEval: ids as the official code builds them ("noans" marks non-evidence turns).
CORPUS = ["noans_a_1", "answer_a_3", "s1_1", "answer_b_1", "s2_1", "s3_1"]


def test_recall_any_and_all() -> None:
    correct = {"answer_a_3", "answer_b_1"}
    assert recall_any_at_k(CORPUS, correct, 1) == 0.0
    assert recall_any_at_k(CORPUS, correct, 2) == 1.0
    assert recall_all_at_k(CORPUS, correct, 2) == 0.0
    assert recall_all_at_k(CORPUS, correct, 4) == 1.0
    # the official edge cases: no correct ids
    assert recall_any_at_k(CORPUS, set(), 3) == 0.0
    assert recall_all_at_k(CORPUS, set(), 3) == 1.0


def test_ndcg_any_matches_the_official_formula() -> None:
    correct = {"answer_a_3", "answer_b_1"}
    # relevances by rank: 0 1 0 1 0 0; official DCG: rel[0] + sum rel[i] / log2(i + 1)
    actual = 1 / math.log2(2) + 1 / math.log2(4)
    ideal = 1 + 1 / math.log2(2)
    assert ndcg_any_at_k(CORPUS, correct, 10) == pytest.approx(actual / ideal)
    assert ndcg_any_at_k(CORPUS, correct, 2) == pytest.approx(1 / 2)
    assert ndcg_any_at_k(CORPUS, correct, 1) == 0.0
    assert ndcg_any_at_k(["answer_a_3", "answer_b_1", "x"], correct, 5) == 1.0
    # ranks 1 and 2 are both undiscounted in the official DCG
    assert ndcg_any_at_k(["x", "answer_a_3"], {"answer_a_3"}, 2) == 1.0
    assert ndcg_any_at_k(CORPUS, set(), 5) == 0.0


def test_ndcg_ideal_uses_the_whole_corpus() -> None:
    # three correct docs but k=2: the ideal is two hits at the top
    ranked = ["c1", "x", "c2", "c3"]
    expected = 1.0 / (1 + 1)
    assert ndcg_any_at_k(ranked, {"c1", "c2", "c3"}, 2) == pytest.approx(expected)


def test_session_k() -> None:
    sessions = ["a", "a", "b", "a", "c", "c", "d"]
    assert session_k(sessions, 1) == 1
    assert session_k(sessions, 2) == 3
    assert session_k(sessions, 3) == 5
    assert session_k(sessions, 4) == 7
    assert session_k(sessions, 5) == 8  # the official loop stops one past the end
    assert session_k(sessions, 10) == 10
    k = session_k(sessions, 2)
    assert recall_any_at_k(sessions, {"b"}, k) == 1.0
    assert recall_any_at_k(sessions, {"b"}, 2) == 0.0


def test_aggregate() -> None:
    rows = [
        {"id": "q1", "category": "1", "hit@10": 1.0, "recall@10": 0.5},
        {"id": "q2", "category": "1", "hit@10": 0.0, "recall@10": 0.0},
        {"id": "q3", "category": "10", "hit@10": 1.0, "recall@10": 1.0},
        {"id": "q4", "category": "2", "hit@10": True, "recall@10": 1},
    ]
    result = aggregate(rows)
    assert list(result) == ["overall", "1", "2", "10"]
    assert result["overall"] == {"n": 4, "hit@10": 0.75, "recall@10": 0.625}
    assert result["1"] == {"n": 2, "hit@10": 0.5, "recall@10": 0.25}
    assert result["10"]["n"] == 1
    only = aggregate(rows, metrics=["hit@10"])
    assert only["2"] == {"n": 1, "hit@10": 1.0}
    by_id = aggregate(rows[:2], by="id", metrics=["recall@10"])
    assert by_id["q1"] == {"n": 1, "recall@10": 0.5}
    assert aggregate([]) == {"overall": {"n": 0}}


def test_aggregate_rejects_incomplete_rows() -> None:
    with pytest.raises(InputError, match="row 1: metric 'hit@10'"):
        aggregate([{"category": "1", "hit@10": 1.0}, {"category": "2"}])
    with pytest.raises(InputError, match="no 'category'"):
        aggregate([{"hit@10": 1.0}])
    with pytest.raises(InputError, match="'n'"):
        aggregate([{"category": "1", "n": 3}])
