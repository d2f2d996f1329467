"""A query of several lines is embedded line by line, each line's vector kept: the proxy's
query (the recent user messages) grows by one message per request and embeds one message,
and a long first line no longer pushes the newest out of the embedder's window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lightmem import Memory
from lightmem.embedders.base import Vectors
from lightmem.embedders.hashing import HashEmbedder, HashEmbedderOptions
from lightmem.retrieval.queryvec import QueryVectors


class Counting(HashEmbedder):
    def __init__(self) -> None:
        super().__init__(HashEmbedderOptions(dim=64))
        self.texts: list[str] = []

    def embed(self, texts: list[str]) -> Vectors:
        self.texts += texts
        return super().embed(texts)


def test_a_growing_conversation_embeds_only_its_new_line() -> None:
    e = Counting()
    vectors = QueryVectors(e)
    vectors("I keep bees\nthey swarmed in May")
    assert e.texts == ["I keep bees", "they swarmed in May"]
    vectors("I keep bees\nthey swarmed in May\nwhere should I move the hive?")
    assert e.texts[2:] == ["where should I move the hive?"]
    vectors("where should I move the hive?")  # one line, kept from before
    assert len(e.texts) == 3


def test_the_vector_is_the_normalised_mean_of_the_lines() -> None:
    e = HashEmbedder(HashEmbedderOptions(dim=64))
    got = QueryVectors(e)("I keep bees\n\n  they swarmed in May  \n")
    a, b = e.embed(["I keep bees", "they swarmed in May"])
    want = (a + b) / np.linalg.norm(a + b)
    assert np.allclose(got, want, atol=1e-6)
    assert got.dtype == np.float32 and got.flags["C_CONTIGUOUS"]
    one = QueryVectors(e)("I keep bees")
    assert np.allclose(one, a, atol=1e-7)


def test_no_text_is_kept_and_the_store_is_bounded() -> None:
    vectors = QueryVectors(HashEmbedder(HashEmbedderOptions(dim=8)), size=3)
    for n in range(5):
        vectors(f"secret number {n}")
    kept = vectors._kept
    assert len(kept) == 3
    assert all(isinstance(k, bytes) and len(k) == 16 for k in kept)
    # a kept vector is never handed out to be changed in place
    first = vectors("secret number 4")
    first[:] = 0
    assert np.linalg.norm(vectors("secret number 4")) == pytest.approx(1.0, abs=1e-6)


def test_the_newest_message_is_searched_after_a_long_first_one(tmp_path: Path) -> None:
    """MiniLM reads 256 tokens: embedded whole, this query was only the weather."""
    config = {"embedder": {"provider": "minilm"}, "llm": "none"}
    weather = " ".join(["The weather was grey and windy all week, with rain most days."] * 30)
    with Memory(tmp_path / "s", config=config) as mem:
        mem.add("I keep three beehives on the roof of my flat.", user_id="u")
        mem.add("My sister is a nurse at the city hospital.", user_id="u")
        mem.add("Storms kept us indoors; the rain did not stop for days.", user_id="u")
        mem.add("I walk my dog in the park every morning.", user_id="u")
        mem.flush(user_id="u")
        hits = mem.search(weather + "\nHow are my bees doing?", user_id="u", mode="dense")
        assert "beehives" in hits[0].text
