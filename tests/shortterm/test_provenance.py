"""The support scorer and link check, on hand-built texts and vectors."""

from __future__ import annotations

import numpy as np

from lightmem.shortterm.provenance import (
    LinkCheck,
    LinkRules,
    check_links,
    content_words,
    dense_support,
    lexical_support,
    opens_with,
    stem,
    support_matrix,
)

TURNS = [
    "Maya: My cat Pixel only eats salmon flavoured kibble these days.",
    "Jonas: Our dog Bruno eats anything he finds.",
    "Maya: I started a new job as a nurse at Riverside hospital last week.",
    "Jonas: Congrats! How are the night shifts?",
]


def test_stem_joins_word_forms() -> None:
    assert stem("painting") == stem("painted") == stem("paints") == "paint"
    assert stem("stories") == "story"
    assert stem("Maya's") == "maya"
    assert stem("planned") == "plan"
    assert stem("glass") == "glass"


def test_content_words_drop_stop_words_and_weigh_names_and_numbers() -> None:
    words = content_words("Maya started her job at Riverside in 2023")
    assert "her" not in words and "at" not in words and "in" not in words
    assert words["maya"] == words["riverside"] == 2.0
    assert words["2023"] == 2.0
    assert words["start"] == 1.0


def test_lexical_support_is_the_share_of_the_fact_found_in_the_turn() -> None:
    lex = lexical_support(["Maya works as a nurse at Riverside hospital."], TURNS)
    assert lex.shape == (1, 4)
    assert int(np.argmax(lex[0])) == 2
    assert lex[0, 1] == 0.0
    assert 0.0 < lex[0, 2] <= 1.0


def test_words_common_in_the_batch_weigh_less() -> None:
    turns = ["Maya: kibble", "Maya: hello there", "Maya: the weather", "Maya: again"]
    lex = lexical_support(["Maya buys kibble"], turns)
    # without rarity weighting 'maya' (a name: weight 2 of 4) would be half the fact
    assert lex[0, 1] < 0.4
    assert lex[0, 0] > 1.5 * lex[0, 1]


def test_dense_support_is_cosine_and_nan_without_a_vector() -> None:
    facts = np.array([[1.0, 0.0], [0.0, 1.0]])
    dense = dense_support(facts, [np.array([1.0, 0.0]), None])
    assert dense[0, 0] == 1.0 and dense[1, 0] == 0.0
    assert np.isnan(dense[:, 1]).all()


def test_support_blends_and_falls_back_to_lexical() -> None:
    rules = LinkRules(lexical_weight=0.5, speaker_bonus=0.0)
    facts = ["Pixel eats salmon kibble"]
    vec = np.array([[1.0, 0.0]])
    with_vec = support_matrix(facts, TURNS[:1], vec, [np.array([1.0, 0.0])], [None], rules)
    without = support_matrix(facts, TURNS[:1], vec, [None], [None], rules)
    lex = lexical_support(facts, TURNS[:1])[0, 0]
    assert with_vec[0, 0] == 0.5 * lex + 0.5
    assert without[0, 0] == lex


def test_speaker_bonus_goes_to_the_turns_of_the_person_the_fact_is_about() -> None:
    assert opens_with("Maya's cat eats salmon", "Maya")
    assert not opens_with("Mayan ruins", "Maya")
    rules = LinkRules(speaker_bonus=0.1)
    zeros = np.zeros((1, 2))
    scores = support_matrix(["Maya sings"], ["x", "y"], zeros, [None, None], ["Maya", "Jo"], rules)
    assert scores[0, 0] == 0.1 and scores[0, 1] == 0.0


RULES = LinkRules(floor=0.2, relative=0.8, max_sources=2)


def test_a_supported_link_is_kept() -> None:
    scores = np.array([[0.1, 0.9, 0.8]])
    assert check_links(scores, [[2]], RULES) == [LinkCheck((2,), 0)]


def test_an_unsupported_link_is_re_pointed_to_the_best_turn() -> None:
    scores = np.array([[0.1, 0.9, 0.3]])
    assert check_links(scores, [[0]], RULES) == [LinkCheck((1,), 1)]


def test_a_runner_up_close_to_the_best_joins_it() -> None:
    scores = np.array([[0.75, 0.9, 0.1, 0.1]])
    assert check_links(scores, [[3]], RULES) == [LinkCheck((0, 1), 1)]


def test_of_several_links_the_unsupported_one_is_dropped() -> None:
    scores = np.array([[0.9, 0.1, 0.85]])
    assert check_links(scores, [[0, 1]], RULES) == [LinkCheck((0,), 1)]


def test_a_fact_without_a_valid_link_gets_the_best_turns_not_the_batch() -> None:
    scores = np.array([[0.1, 0.2, 0.9, 0.1]])
    assert check_links(scores, [[]], RULES) == [LinkCheck((2,), 0)]


def test_when_no_turn_supports_the_fact_the_cited_links_stay() -> None:
    scores = np.array([[0.05, 0.1, 0.15]])
    assert check_links(scores, [[0]], RULES) == [LinkCheck((0,), 0)]
    assert check_links(scores, [[]], RULES)[0].sources == (2,)  # never without a source


def test_duplicate_cited_numbers_count_once() -> None:
    scores = np.array([[0.1, 0.9]])
    assert check_links(scores, [[0, 0]], RULES) == [LinkCheck((1,), 1)]
