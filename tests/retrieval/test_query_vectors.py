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
from lightmem.retrieval import people
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


def test_the_vector_is_the_mean_of_the_lines_weighted_by_their_words() -> None:
    e = HashEmbedder(HashEmbedderOptions(dim=64))
    got = QueryVectors(e)("I keep bees\n\n  they swarmed in May  \n```\n")
    a, b = e.embed(["I keep bees", "they swarmed in May"])
    want = (3 * a + 4 * b) / np.linalg.norm(3 * a + 4 * b)  # the fence has no word
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
    """MiniLM reads 256 tokens: embedded whole, this query was the weather alone, and the
    umbrella outranked the bees. Line by line the question counts, as much as a sentence."""
    config = {"embedder": {"provider": "minilm"}, "llm": "none"}
    weather = " ".join(["The weather was grey and windy all week, with rain most days."] * 30)
    with Memory(tmp_path / "s", config=config) as mem:
        for text in [
            "I keep three beehives on the roof of my flat.",
            "My sister is a nurse at the city hospital.",
            "Storms kept us indoors; the rain did not stop for days.",
            "I walk my dog in the park every morning.",
            "I bought a new blue umbrella last month.",
        ]:
            mem.add(text, user_id="u")
        mem.flush(user_id="u")
        alone = [h.text for h in mem.search(weather, user_id="u", mode="dense")]
        assert alone.index(next(t for t in alone if "umbrella" in t)) < alone.index(
            next(t for t in alone if "beehives" in t)
        )
        hits = [h.text for h in mem.search(weather + "\nHow are my bees doing?", user_id="u")]
        assert "Storms" in hits[0] and "beehives" in hits[1]


def test_names_and_the_user_are_taken_out_line_by_line() -> None:
    """A query naming a speaker (or "the user") keeps its lines, so it is still embedded
    line by line; a one-line query is as before."""
    found, words = people.named_speakers("Kate's coat is red\nhow are my bees?", {"kate": "Kate"})
    assert (found, words) == ({"Kate"}, "coat is red\nhow are my bees?")
    assert people.about_user("the user table is slow\nhow are  my bees?") == (
        True,
        "table is slow\nhow are my bees?",
    )
    assert people.about_user("What does  the user like?") == (True, "What does like?")


def test_clear_forgets_every_kept_vector() -> None:
    e = Counting()
    vectors = QueryVectors(e)
    vectors("I keep bees")
    vectors.clear()
    vectors("I keep bees")
    assert e.texts == ["I keep bees", "I keep bees"]
