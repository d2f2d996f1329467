"""Summaries without an LLM: the keywords carry the session's topic (names joined, small
talk left out) and the text does not repeat the date every surface shows beside it."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

import numpy as np

from lightmem.longterm.extractive import extractive_summary, key_terms, terms
from lightmem.types import Scope, Turn


def turn(content: str, speaker: str = "Caroline") -> Turn:
    return Turn(
        id=content[:8],
        seq=0,
        scope=Scope("u"),
        role="user",
        content=content,
        speaker=speaker,
        session_id="s1",
        timestamp=datetime(2024, 1, 7, 10, 0),
    )


SESSION = [
    turn("It was great to live in San Francisco, the fog is nice."),
    turn("Nice! I really loved visiting the Golden Gate bridge with my sister Ottilie.", "Mel"),
    turn("We went hiking near the bridge and had great sourdough bread."),
]


def test_names_are_joined_and_small_talk_is_left_out() -> None:
    names, plain = terms("We moved to San Francisco with Ottilie, it was great and nice.")
    assert names == ["San Francisco", "Ottilie"]
    assert "great" not in plain and "nice" not in plain and "moved" not in plain


def test_contractions_are_no_names() -> None:
    names, plain = terms(
        "Oh, I'm glad you came, It's been much fun with Ilse. We'll see, I've met Bach."
    )
    assert names == ["Ilse", "Bach"] and "much" not in plain


def test_key_terms_carry_the_topic() -> None:
    found = key_terms(SESSION, Counter(), sessions=1)
    assert found[:3] == ["Golden Gate", "Ottilie", "San Francisco"]
    assert "bridge" in found and "sourdough" in found
    for noise in ("great", "nice", "live", "francisco", "san", "really", "loved", "hiking"):
        assert noise not in found


def test_the_summary_names_speakers_and_topics_once_without_the_date() -> None:
    text, keywords = extractive_summary(SESSION, np.ones((3, 4)), Counter(), sessions=1)
    assert text.startswith("Caroline and Mel talked about Golden Gate, Ottilie, San Francisco")
    assert "2024-01-07" not in text and keywords[0] == "Golden Gate"
    assert text.count('"') == 6  # three central turns quoted
