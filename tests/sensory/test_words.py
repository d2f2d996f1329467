"""Word attribution and selection shared by the token-scoring compressors (pure functions)."""

from __future__ import annotations

import numpy as np

from lightmem.sensory.compressors.words import Words, select_words, token_words, word_scores


def test_words_are_whitespace_runs_with_punctuation_attached() -> None:
    words = Words.of("Hi,  Mel!\nHow's it going?")
    assert [words.text[a:b].decode() for a, b in words.spans] == [
        "Hi,",
        "Mel!",
        "How's",
        "it",
        "going?",
    ]
    assert words.join([True, False, True, True, False]) == "Hi, How's it"


def test_tokens_go_to_the_word_of_their_first_non_space_byte() -> None:
    words = Words.of("New York is big")
    # "New", " York", " is", " ", "big": the lone space token belongs to no word
    spans = [(0, 3), (3, 8), (8, 11), (11, 12), (12, 15)]
    assert token_words(words, spans) == [0, 1, 2, -1, 3]


def test_multi_token_words_sum_max_and_mean() -> None:
    owners = [0, 0, 1, -1, 2]
    scores = [1.0, 3.0, 2.0, 9.0, 0.5]
    total, count = word_scores(3, owners, scores, "sum")
    assert total.tolist() == [4.0, 2.0, 0.5] and count.tolist() == [2, 1, 1]
    assert word_scores(3, owners, scores, "max")[0].tolist() == [3.0, 2.0, 0.5]
    assert word_scores(3, owners, scores, "mean")[0].tolist() == [2.0, 2.0, 0.5]


def test_selection_keeps_best_words_within_the_token_budget() -> None:
    scores = np.array([5.0, 1.0, 4.0, 3.0, 0.0])
    costs = np.array([2, 1, 3, 1, 1])
    # budget 0.5 * 8 = 4 tokens: word 0 (2 tokens), word 2 would pass it (5): skipped,
    # word 3 (3), word 1 (4)
    assert select_words(scores, costs, 0.5) == [True, True, False, True, False]
    assert select_words(scores, costs, 1.0) == [True] * 5


def test_selection_keeps_at_least_one_word() -> None:
    assert select_words(np.array([1.0, 2.0]), np.array([5, 5]), 0.1) == [False, True]
    assert select_words(np.array([]), np.array([]), 0.5) == []
