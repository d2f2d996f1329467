"""The LLMLingua-2 compressor, on tiny randomly initialised classifiers built by the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightmem.errors import ProviderError
from lightmem.sensory.compressors.llmlingua import LLMLinguaCompressor, LLMLinguaOptions
from tests.sensory.tiny_bert import make_classifier


def compressor(folder: Path, **options: object) -> LLMLinguaCompressor:
    return LLMLinguaCompressor(LLMLinguaOptions.model_validate({"model_path": folder, **options}))


def test_keeps_the_words_the_classifier_favours_in_order(tmp_path: Path) -> None:
    model = make_classifier(tmp_path / "m", layers=0, keep_words=("puppy", "paris", "friday"))
    text = "I went to Paris with my puppy on Friday ."  # ten one-token words
    (view,) = compressor(model, rate=0.3).compress([text])
    assert view.split() == ["Paris", "puppy", "Friday"]


def test_random_model_output_is_an_ordered_subset_within_the_rate(tmp_path: Path) -> None:
    model = make_classifier(tmp_path / "m", layers=2)
    texts = [
        "Yesterday I adopted a puppy, and we went to the concert on Monday!",
        "ok",
        "",
        "The tax report is due Friday; I love banana and apple today.",
    ]
    views = compressor(model, rate=0.5).compress(texts)
    assert len(views) == len(texts)
    assert views[1] == "ok" and views[2] == ""
    for text, view in zip(texts, views, strict=True):
        words, kept = text.split(), view.split()
        it = iter(words)
        assert all(w in it for w in kept)  # an ordered sub-sequence of the original words
    assert len(views[0].split()) < len(texts[0].split())


def test_long_text_is_classified_in_windows(tmp_path: Path) -> None:
    model = make_classifier(tmp_path / "m", layers=1)
    text = " ".join(["we bought a banana in tokyo ."] * 200)  # ~1,400 tokens, windows of 32
    (view,) = compressor(model, rate=0.5, max_tokens=32).compress([text])
    kept = len(view.split())
    assert 0.3 * 1400 < kept < 0.6 * 1400
    # the default window (512) is cut to what the model can take (64 positions)
    (view,) = compressor(model, rate=0.5).compress([text])
    assert 0.3 * 1400 < len(view.split()) < 0.6 * 1400


def test_missing_model_path_names_the_option(tmp_path: Path) -> None:
    with pytest.raises(ProviderError, match=r"model_path.*llmlingua-2"):
        LLMLinguaCompressor().compress(["some words to compress here"])
    with pytest.raises(ProviderError, match=r"config.json.*compressor.options.model_path"):
        compressor(tmp_path / "nowhere").compress(["some words"])


def test_a_model_without_a_classifier_head_is_refused(tmp_path: Path) -> None:
    model = make_classifier(tmp_path / "m", layers=1, head=False)
    with pytest.raises(ProviderError, match="token-classification head"):
        compressor(model).compress(["some words"])


def test_unknown_option_is_rejected() -> None:
    with pytest.raises(ValueError, match="extra"):
        LLMLinguaOptions.model_validate({"ratio": 0.5})
