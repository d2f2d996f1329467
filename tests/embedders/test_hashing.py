"""The deterministic hashing embedder."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from lightmem.config import parse_options
from lightmem.embedders.base import Embedder
from lightmem.embedders.hashing import HashEmbedder, HashEmbedderOptions, features
from lightmem.errors import ConfigError
from lightmem.registry import registry


def cos(e: Embedder, a: str, b: str) -> float:
    va, vb = e.embed([a, b])
    return float(va @ vb)


def test_shape_dtype_and_unit_norm() -> None:
    e = HashEmbedder()
    v = e.embed(["hello world", "", "!!!", "Ünïcödé 日本語 text"])
    assert v.shape == (4, 64) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-6)
    assert e.dim == 64 and e.model_id == "hash-64-0"


def test_empty_batch() -> None:
    assert HashEmbedder().embed([]).shape == (0, 64)


def test_options_dim_and_seed() -> None:
    e = HashEmbedder(HashEmbedderOptions(dim=256, seed=7))
    assert e.embed(["x"]).shape == (1, 256)
    assert e.model_id == "hash-256-7"


def test_seed_changes_the_space() -> None:
    a = HashEmbedder(HashEmbedderOptions(seed=1)).embed(["the same text"])
    b = HashEmbedder(HashEmbedderOptions(seed=2)).embed(["the same text"])
    assert not np.allclose(a, b)


def test_deterministic_across_processes() -> None:
    """blake2b, not the salted builtin hash: a fresh interpreter gives the same vector."""
    code = (
        "from lightmem.embedders.hashing import HashEmbedder;"
        "print(HashEmbedder().embed(['stable across runs']).tolist())"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345"},
    )
    here = HashEmbedder().embed(["stable across runs"])
    assert np.allclose(np.array(json.loads(other.stdout)), here)


def test_case_and_punctuation_do_not_matter() -> None:
    e = HashEmbedder()
    assert cos(e, "Hello, World!", "hello world") == pytest.approx(1.0)


PAIRS = [
    ("Caroline went hiking in the mountains", "hiking in the mountains", "tax forms due"),
    ("my dog is named Max", "Max the dog", "quarterly revenue grew"),
    ("I love painting sunsets", "painting a sunset", "the train was late"),
    ("adoption agency interview", "adopting through an agency", "grilled cheese recipe"),
]


@pytest.mark.parametrize("dim", [64, 256])
@pytest.mark.parametrize(("text", "related", "unrelated"), PAIRS)
def test_shared_words_score_higher(dim: int, text: str, related: str, unrelated: str) -> None:
    e = HashEmbedder(HashEmbedderOptions(dim=dim))
    assert cos(e, text, related) > cos(e, text, unrelated) + 0.2


def test_features() -> None:
    assert features("Hi, ab") == ["w:hi", "c:#hi", "c:hi#", "w:ab", "c:#ab", "c:ab#"]
    assert features("") == features("...") == ["\x00empty"]


def test_options_validate() -> None:
    with pytest.raises(ConfigError, match=r"embedder\.options\.dimm"):
        parse_options(HashEmbedderOptions, {"dimm": 3}, "embedder")
    with pytest.raises(ConfigError, match=r"embedder\.options\.dim\b"):
        parse_options(HashEmbedderOptions, {"dim": 1}, "embedder")


def test_registered() -> None:
    assert registry.resolve("embedder", "hash", Embedder) is HashEmbedder
