"""Session summaries without an LLM: who talked, the terms that carry the session's topic,
and its most central turns. Pure functions over turns and their vectors.

Topic terms are names first (capitalised words inside a sentence, joined into one name when
they follow each other: "San Francisco"), then content words by TF-IDF against the owner's
other sessions. Words that carry no topic are left out: stop words, the small talk of a
conversation ("great", "nice", "live"), adverbs in -ly and verb forms in -ed/-ing.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable

import numpy as np

from lightmem.text import STOP_WORDS
from lightmem.types import Turn

CENTRAL_TURNS = 3
KEY_TERMS = 8
TURN_WORDS = 40  # words of a central turn quoted in an extractive summary
NAME_WEIGHT = 2  # a name counts as much as two mentions of a plain word

#: Conversation words that name no topic: reactions, fillers, common verbs and adjectives.
_SMALL_TALK = """
great nice good bad cool awesome amazing wonderful fantastic lovely fun funny glad
happy sad sorry sure okay fine well really actually totally pretty super little lot
lots kind live lives lived love loves like likes liked want wants need needs feel
feels felt think thinks thought know knows knew get gets got make makes made take
takes took go goes went come comes came see sees saw look looks say says said tell
tells told try tries tried keep keeps let lets put puts give gives gave find finds
found thing things stuff way time times day days today yesterday tomorrow week weeks
year years morning evening night else nothing something anything everything someone
anyone everyone far along alright yes yeah thanks thank hey wow new old big small long
short best better right left last next noted sounds sound hope hopes wish wishes mean
means sometimes always never often maybe probably definitely near much many
"""
SMALL_TALK = frozenset(_SMALL_TALK.split())
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\-]*")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")


def _plain(word: str) -> bool:
    """A lower-cased word that may carry a topic."""
    if len(word) <= 2 or word in STOP_WORDS or word in SMALL_TALK:
        return False
    if word.endswith("ly") and len(word) > 4:
        return False
    return not ((word.endswith("ed") or word.endswith("ing")) and len(word) > 4)


def terms(text: str) -> tuple[list[str], list[str]]:
    """(names, plain words) of a text: runs of capitalised words inside sentences (not the
    first word of a sentence, not "I") as names; the other topic-carrying words lower-cased."""
    names: list[str] = []
    plain: list[str] = []
    for sentence in _SENTENCE.split(text):
        run: list[str] = []
        for i, match in enumerate(_TOKEN.finditer(sentence)):
            token = match.group().strip("'-")
            base = token.split("'")[0]  # a contraction is its first word: I'm, It's, We'll
            capital = base[:1].isupper() and base != "I" and not token.isupper()
            if capital and i > 0 and base.lower() not in STOP_WORDS:
                run.append(token)
                continue
            if run:
                names.append(" ".join(run))
                run = []
            low = token.lower().split("'")[0]
            if _plain(low):
                plain.append(low)
        if run:
            names.append(" ".join(run))
    return names, plain


def topic_terms(texts: Iterable[str]) -> Counter[str]:
    """Each term's weight in a session: a name counts NAME_WEIGHT, a plain word 1; a word
    that is also part of a name is counted as the name only."""
    counts: Counter[str] = Counter()
    found = [terms(t) for t in texts]
    in_names = {w.lower() for names, _ in found for n in names for w in n.split()}
    for names, plain in found:
        for n in names:
            counts[n] += NAME_WEIGHT
        for w in plain:
            if w not in in_names:
                counts[w] += 1
    return counts


def document_frequencies(sessions: Iterable[list[Turn]]) -> Counter[str]:
    """In how many sessions each term occurs."""
    df: Counter[str] = Counter()
    for turns in sessions:
        df.update(set(topic_terms(t.content for t in turns)))
    return df


def key_terms(turns: list[Turn], df: Counter[str], sessions: int) -> list[str]:
    """The session's KEY_TERMS strongest terms by TF-IDF, ties by name."""
    tf = topic_terms(t.content for t in turns)
    idf = {w: math.log((1 + sessions) / (1 + df[w])) + 1.0 for w in tf}
    scored = sorted(tf, key=lambda w: (-(1 + math.log(tf[w])) * idf[w], w))
    return scored[:KEY_TERMS]


def extractive_summary(
    turns: list[Turn], vectors: np.ndarray, df: Counter[str], sessions: int
) -> tuple[str, list[str]]:
    """Who talked about what, and the most central turns quoted. The session's date is not
    repeated here: it is the summary's own time (every surface shows it beside the text)."""
    keywords = key_terms(turns, df, sessions)
    norms = np.linalg.norm(vectors, axis=1)
    centroid = vectors[norms > 0].mean(axis=0) if (norms > 0).any() else None
    if centroid is None:
        central = list(range(min(CENTRAL_TURNS, len(turns))))
    else:
        scores = vectors @ centroid
        central = sorted(np.argsort(-scores, kind="stable")[:CENTRAL_TURNS].tolist())
    speakers = " and ".join(dict.fromkeys(t.label for t in turns))
    head = f"{speakers} talked about {_listed(keywords) or 'various things'}."
    quotes = [
        f'{turns[i].label}: "{" ".join(turns[i].content.split()[:TURN_WORDS])}"' for i in central
    ]
    return " ".join([head, *quotes]), keywords


def _listed(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    if len(items) < 2:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
