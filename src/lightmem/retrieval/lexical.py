"""BM25 for the retrieval layer's own indexes (turns and their context keys): terms are
folded words with English stop words removed and a light suffix stemmer, so "camping",
"camped" and "camps" meet. Pure functions and a small in-memory index, unit-tested alone.

The stores keep their own unstemmed BM25 over entries (built at write time, scalable to
millions of rows); this index serves what is rebuilt from a scope's turns on demand.
"""

from __future__ import annotations

from functools import lru_cache

from lightmem.text import STOP_WORDS, words

K1 = 1.2
B = 0.75

_SUFFIXES = ("ingly", "edly", "ings", "ing", "ied", "ies", "ed", "es", "s", "ly")


@lru_cache(maxsize=1 << 16)  # a vocabulary repeats: an index build stems each word once
def stem(word: str) -> str:
    """A light English stemmer: strips one inflectional suffix from words long enough to
    keep a stem of three or more letters (``camping`` -> ``camp``, ``parties`` -> ``party``),
    a doubled final consonant left by ``-ing``/``-ed`` (``planning`` -> ``plan``), and a final
    silent ``e`` (``cycle``, ``cycling`` and ``cycled`` all give ``cycl``)."""
    if not word.isalpha():
        return word
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            if word.endswith("ss") and suffix == "s":
                return word
            base = word[: -len(suffix)]
            if suffix in ("ies", "ied"):
                return base + "y"
            if suffix in ("ing", "ed", "ings") and _doubled(base):
                return base[:-1]  # planning -> plan, stopped -> stop (not fall, miss)
            return base
    return word[:-1] if len(word) > 4 and word.endswith("e") else word


def _doubled(base: str) -> bool:
    return (
        len(base) > 3 and base[-1] == base[-2] and base[-1] not in "lsz" and base[-1] not in "aeiou"
    )


def terms(text: str) -> list[str]:
    """The BM25 terms of a text: folded words, stop words out, stemmed."""
    return [stem(w) for w in words(text) if w not in STOP_WORDS]
