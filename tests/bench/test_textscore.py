"""Token F1 and BLEU-1 on hand-built answers."""

from __future__ import annotations

import math

import pytest

from lightmem_bench.textscore import bleu1, normalize_answer, token_f1


def test_normalisation_drops_case_punctuation_articles_and_commas() -> None:
    assert normalize_answer("The Cat, and a Dog!") == "cat dog"
    assert normalize_answer("  7 May,   2023. ") == "7 may 2023"


def test_token_f1() -> None:
    assert token_f1("salmon kibble", "Salmon kibble.") == 1.0
    # pred {salmon, flavoured, kibble, daily}, gold {salmon, kibble}: P 2/4, R 2/2 -> 2/3
    assert token_f1("salmon flavoured kibble daily", "salmon kibble") == pytest.approx(2 / 3)
    assert token_f1("tuna", "salmon kibble") == 0.0
    assert token_f1("the", "a") == 0.0  # nothing left after normalisation
    # repeated words are counted with multiplicity: pred (x, x), gold (x): P 1/2, R 1
    assert token_f1("x x", "x") == pytest.approx(2 / 3)


def test_bleu1() -> None:
    assert bleu1("salmon kibble", "salmon kibble") == 1.0
    assert bleu1("tuna", "salmon") == 0.0
    assert bleu1("", "salmon") == 0.0
    # longer than the reference: no brevity penalty; clipped precision 2/4
    assert bleu1("salmon kibble salmon tuna", "salmon kibble") == pytest.approx(0.5)
    # shorter: precision 1, brevity penalty exp(1 - 3/1)
    assert bleu1("salmon", "salmon flavoured kibble") == pytest.approx(math.exp(-2))
    # punctuation is a token, case is ignored
    assert bleu1("Salmon.", "salmon .") == 1.0
