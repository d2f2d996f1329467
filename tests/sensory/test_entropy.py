"""The entropy compressor, with the real SmolLM2 model through llama-cpp-python.

The model is probed once in a child process: a llama.cpp built for another CPU dies of
SIGILL, which would take the whole test session down; such a machine skips these tests.
"""

from __future__ import annotations

import builtins
import sys
from typing import Any

import pytest

from lightmem.errors import MissingDependencyError
from lightmem.sensory.compressors.entropy import (
    EntropyCompressor,
    EntropyOptions,
    runtime_problem,
)
from lightmem.tokens import count_tokens
from tests.conftest import shared_data_dir


def test_missing_llama_cpp_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_llama(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "llama_cpp" or name.startswith("llama_cpp."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "llama_cpp", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_llama)
    with pytest.raises(MissingDependencyError, match=r"pip install 'lightmem\[local\]'"):
        EntropyCompressor().compress(["a message long enough to be compressed by the model"])


def test_short_messages_never_load_the_model() -> None:
    comp = EntropyCompressor(EntropyOptions(model_path="/nowhere.gguf", min_words=5))
    assert comp.compress(["hi there", "", "ok"]) == ["hi there", "", "ok"]


@pytest.fixture(scope="module")
def compressor() -> Any:
    problem = runtime_problem()
    if problem is not None:
        pytest.skip(problem)
    comp = EntropyCompressor(EntropyOptions(rate=0.7))
    yield comp
    comp.close()


@pytest.mark.local_llm
def test_views_are_ordered_subsets_and_originals_are_kept(compressor: EntropyCompressor) -> None:
    texts = [
        "Hey Mel! Good to see you! How have you been lately, and how are the kids doing?",
        "Thanks!",
        "I went to a LGBTQ support group yesterday and it was so powerful, I cried a bit.",
    ]
    original = list(texts)
    views = compressor.compress(texts)
    assert texts == original  # the input list is not touched
    assert views[1] == "Thanks!"  # shorter than min_words: kept whole
    for text, view in zip(texts, views, strict=True):
        it = iter(text.split())
        assert all(w in it for w in view.split())
    assert "LGBTQ" in views[2]  # a rare word is the last thing to go
    assert len(views[0].split()) < len(texts[0].split())


@pytest.mark.local_llm
def test_a_five_thousand_word_message(compressor: EntropyCompressor) -> None:
    sentence = (
        "the committee met on tuesday to review the budget for the harbour bridge "
        "repairs and voted to postpone the decision until march"
    )
    words = sentence.split()
    text = " ".join(words[i % len(words)] for i in range(5000))
    (view,) = compressor.compress([text])
    kept = len(view.split())
    assert 0.5 * 5000 < kept <= 0.72 * 5000


@pytest.mark.local_llm
def test_cuts_locomo_turns_by_at_least_the_rate(compressor: EntropyCompressor) -> None:
    data = shared_data_dir()
    if data is None:
        pytest.skip("shared/data is not beside the checkout")
    from lightmem.datasets import load_dataset

    conv = load_dataset("locomo", data / "locomo-dev.json", ["conv-26"]).conversations[0]
    texts = [t.content for t in conv.turns[:60]]
    views = compressor.compress(texts)
    long = [(t, v) for t, v in zip(texts, views, strict=True) if len(t.split()) >= 8]
    before = sum(count_tokens(t) for t, _ in long)
    after = sum(count_tokens(v) for _, v in long)
    assert after <= 0.7 * before
    assert compressor.stats.tokens > 0 and compressor.stats.tokens_per_second > 0
