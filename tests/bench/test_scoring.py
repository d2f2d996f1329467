"""Per-question retrieval scoring and cost arithmetic on hand-built inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lightmem.datasets import Question, load_dataset
from lightmem_bench.cost import percentile, ratios, spread
from lightmem_bench.retrieval import (
    official_corpus,
    official_ranking,
    score_locomo,
    score_longmemeval,
    summarize_locomo,
    summarize_longmemeval,
)
from lightmem_bench.systems.base import Unit


def q(evidence: list[str], category: str = "4", qid: str = "q") -> Question:
    return Question(qid, "?", "a", category, evidence)


def test_locomo_row_counts_units_and_budget() -> None:
    units = [Unit("A: " + "word " * 300, ["D1:1"]), Unit("B: short", ["D1:2", "D1:3"])]
    row = score_locomo(q(["D1:2", "D9:9"]), units)  # D9:9 dangles: stays in the denominator
    assert row["hit@5"] == 1.0 and row["recall@5"] == 0.5
    # the first unit is ~302 tokens: it fits in 500 together with the second one
    assert row["hit@500tok"] == 1.0
    big = [Unit("A: " + "word " * 600, ["D1:1"]), Unit("B: short", ["D1:2"])]
    row = score_locomo(q(["D1:2"]), big)
    assert row["hit@5"] == 1.0
    assert row["hit@500tok"] == 0.0  # the big first unit ends the 500-token context
    assert row["hit@1000tok"] == 1.0


def test_locomo_summary_keeps_adversarial_apart() -> None:
    units = [Unit("x", ["D1:1"])]
    rows = [
        score_locomo(q(["D1:1"], "1"), units),
        score_locomo(q(["D2:1"], "4"), units),
        score_locomo(q(["D1:1"], "5"), units),
    ]
    s = summarize_locomo(rows, skipped=2)
    assert s["by_category"]["overall"]["n"] == 2
    assert s["by_category"]["overall"]["hit@5"] == 0.5
    assert set(s["by_category"]) == {"overall", "1", "4"}
    assert s["adversarial"]["n"] == 1 and s["adversarial"]["hit@5"] == 1.0
    assert s["excluded"] == {"no_evidence": 2}


def test_official_longmemeval_corpus_and_ranking(longmemeval_file: Path) -> None:
    conv = load_dataset("longmemeval", longmemeval_file).conversations[0]
    corpus = official_corpus(conv)
    # user turns only, 1-based; a non-answer turn of an answer session is renamed "noans"
    assert corpus.ids == ["sharegpt_a_1", "answer_x1_1", "noans_x1_3", "sess_b_1"]
    assert corpus.correct == ["answer_x1_1"]
    # a unit covering an assistant turn maps to nothing; unranked turns follow placeholders
    units = [Unit("t", ["answer_x1:1"]), Unit("t", ["sess_b:0"]), Unit("t", ["answer_x1:0"])]
    ranked, n = official_ranking(units, corpus)
    assert n == 2
    assert ranked[:2] == ["sess_b_1", "answer_x1_1"]
    assert ranked[2:4] == ["<unranked-0>", "<unranked-1>"]
    assert sorted(ranked[4:]) == ["noans_x1_3", "sharegpt_a_1"]
    row = score_longmemeval(conv.questions[0], units, corpus)
    assert row["turn.recall_any@1"] == 0.0 and row["turn.recall_any@3"] == 1.0
    assert row["turn.ndcg_any@3"] == pytest.approx(1.0)  # ranks 1 and 2 are undiscounted
    assert row["session.recall_any@1"] == 0.0 and row["session.recall_any@3"] == 1.0
    # nothing retrieved: up to the corpus size, metrics at k count only what the system
    # ranked; past it every turn is within k, as in the official code (which ranks them all)
    empty = score_longmemeval(conv.questions[0], [], corpus)
    assert empty["turn.recall_any@3"] == 0.0 and empty["turn.recall_all@3"] == 0.0
    assert empty["turn.recall_any@50"] == 1.0


def test_longmemeval_summary_leaves_out_abstention(longmemeval_file: Path) -> None:
    data = load_dataset("longmemeval", longmemeval_file)
    rows = []
    for conv in data.conversations:
        corpus = official_corpus(conv)
        rows.append(score_longmemeval(conv.questions[0], [Unit("t", ["answer_x1:0"])], corpus))
    s = summarize_longmemeval(rows)
    assert s["excluded"] == {"abstention": 1}
    assert s["by_category"]["overall"]["n"] == 1
    assert s["by_category"]["single-session-user"]["turn.recall_any@1"] == 1.0


def test_percentiles() -> None:
    assert percentile([], 95) == 0.0
    assert percentile([3.0], 50) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile(list(map(float, range(101))), 95) == 95.0
    assert spread([1.0, 3.0]) == {"n": 2, "mean": 2.0, "p50": 2.0, "p95": pytest.approx(2.9)}
    with pytest.raises(ValueError):
        percentile([1.0], 101)


def test_ratios_against_baseline() -> None:
    def s(on: tuple[int, int, int], off: tuple[int, int, int] = (0, 0, 0)) -> dict[str, Any]:
        keys = ("calls", "tokens_in", "tokens_out")
        return {
            "online": dict(zip(keys, on, strict=True)),
            "offline": dict(zip(keys, off, strict=True)),
        }

    summaries = {
        "per-turn": s((400, 60_000, 20_000)),
        "lightmem": s((20, 15_000, 10_000), (180, 15_000, 1_000)),
        "naive-rag": s((0, 0, 0)),
    }
    assert ratios(summaries, "per-turn") == {
        "lightmem/per-turn": {
            "calls": 0.05,
            "tokens_in": 0.25,
            "tokens_out": 0.5,
            "calls_with_offline": 0.5,
            "tokens_in_with_offline": 0.5,
        }
    }
    assert ratios(summaries, "missing") == {}
