"""Verified provenance: does a cited turn support the fact it is cited for?

An extraction LLM names the ``[n]`` turns a fact comes from, and small models often name the
wrong ones. Each fact is scored against every turn of its batch: lexical support (the share
of the fact's content words the turn holds, names and numbers weighing more, words common in
the batch weighing less) blended with embedding support (cosine of the fact's vector and the
turn's). A cited turn that scores well below the batch's best, or under an absolute floor, is
re-pointed to the best-supported turn(s). Nothing is dropped: a fact always keeps a source.

Pure functions over plain values (texts, vectors, indices); the stage does the I/O.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_STOP_TEXT = """a about above after again against all also am an and any are as at be because been
    before being below between both but by can could did do does doing down during each few
    for from further had has have having he her here hers herself him himself his how i if in
    into is it its itself just me more most my myself no nor not now of off on once only or
    other our ours ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too under until up
    very was we were what when where which while who whom why will with would you your yours
    yourself yourselves im ive id ill youre dont didnt doesnt isnt wasnt cant wont thats
    really very much many lot lots get got gets getting go going goes went gone make made
    makes like likes liked say said says tell told know knew think thought feel felt yeah yes
    oh hey hi hello wow well thanks thank sure okay ok one ones thing things something
    anything everything way ways time times"""
STOP_WORDS = frozenset(_STOP_TEXT.split())

_WORD = re.compile(r"[A-Za-z][A-Za-z'’]*|\d+(?:[.,:]\d+)*")
_SUFFIXES = (("ies", "y"), ("ied", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""))
NAME_WEIGHT = 2.0  # a capitalised word: a name, a place, a month
NUMBER_WEIGHT = 2.0  # numbers and dates are what a wrong source gets most wrong


def stem(word: str) -> str:
    """A light suffix stripper: enough to match 'painting' with 'painted' and 'paints'."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    w = w.replace("'", "")
    for suffix, keep in _SUFFIXES:
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            w = w[: -len(suffix)] + keep
            break
    if len(w) > 3 and w[-1] == w[-2] and w[-1] not in "aeiouls":
        w = w[:-1]  # 'planned' -> 'plann' -> 'plan'
    return w


def content_words(text: str) -> dict[str, float]:
    """Stemmed content words of ``text`` with their weight (stop words left out)."""
    out: dict[str, float] = {}
    for match in _WORD.finditer(text):
        token = match.group()
        lower = token.lower().replace("’", "'")
        if lower in STOP_WORDS or lower.replace("'", "") in STOP_WORDS:
            continue
        if token[0].isdigit():
            key, weight = token, NUMBER_WEIGHT
        else:
            key = stem(token)
            if len(key) < 2 or key in STOP_WORDS:
                continue
            weight = NAME_WEIGHT if token[0].isupper() else 1.0
        out[key] = max(out.get(key, 0.0), weight)
    return out


@dataclass(frozen=True, slots=True)
class LinkRules:
    """When a cited turn counts as supporting its fact, and what replaces it when not.

    A link is kept when its support is at least ``floor`` and at least ``relative`` times the
    best turn's. Otherwise the fact is re-pointed to the best-supported turn plus, up to
    ``max_sources``, the next best that also clear that bar (a fact drawn from a question
    and its answer gets both). ``lexical_weight`` blends lexical and embedding support;
    ``speaker_bonus`` is added where the fact opens with the turn's speaker (facts are
    written about the person who said them).

    The defaults were set on LoCoMo's annotated observations with MiniLM
    (``tests/engine/test_provenance.py`` prints the figures).
    """

    lexical_weight: float = 0.5
    floor: float = 0.2
    relative: float = 0.8
    max_sources: int = 2
    speaker_bonus: float = 0.1


def support_matrix(
    facts: Sequence[str],
    turns: Sequence[str],
    fact_vectors: np.ndarray,
    turn_vectors: Sequence[np.ndarray | None],
    speakers: Sequence[str | None],
    rules: LinkRules,
) -> np.ndarray:
    """``[fact, turn]`` support: lexical and embedding support blended (where a turn has no
    stored vector, lexical alone), plus the speaker bonus."""
    lexical = lexical_support(facts, turns)
    dense = dense_support(fact_vectors, turn_vectors)
    w = rules.lexical_weight
    scores = np.where(np.isnan(dense), lexical, w * lexical + (1 - w) * np.clip(dense, 0, 1))
    for i, fact in enumerate(facts):
        for j, speaker in enumerate(speakers):
            if speaker and opens_with(fact, speaker):
                scores[i, j] += rules.speaker_bonus
    return scores


def opens_with(fact: str, name: str) -> bool:
    """Does the fact start with the name ("Maya ...", "Maya's ...")?"""
    text = fact.lstrip()
    if text[: len(name)].lower() != name.lower():
        return False
    rest = text[len(name) : len(name) + 1]
    return not rest.isalnum()


def lexical_support(facts: Sequence[str], turns: Sequence[str]) -> np.ndarray:
    """``[fact, turn]`` share of the fact's weighted content words found in the turn.

    A word's weight is scaled by its rarity among the batch's turns (inverse document
    frequency), so the speakers' names, present in every other turn, decide little.
    """
    turn_words = [frozenset(content_words(t)) for t in turns]
    df = Counter(w for words in turn_words for w in words)
    n = len(turns)
    out = np.zeros((len(facts), n), dtype=np.float64)
    for i, fact in enumerate(facts):
        weights = {
            w: wt * math.log(1.0 + (n + 1) / (1.0 + df.get(w, 0)))
            for w, wt in content_words(fact).items()
        }
        total = sum(weights.values())
        if total <= 0:
            continue
        for j, words in enumerate(turn_words):
            out[i, j] = sum(wt for w, wt in weights.items() if w in words) / total
    return out


def dense_support(
    fact_vectors: np.ndarray, turn_vectors: Sequence[np.ndarray | None]
) -> np.ndarray:
    """``[fact, turn]`` cosine of unit vectors; a turn without a stored vector scores NaN."""
    facts = np.asarray(fact_vectors, dtype=np.float64).reshape(len(fact_vectors), -1)
    out = np.full((len(facts), len(turn_vectors)), np.nan, dtype=np.float64)
    for j, vec in enumerate(turn_vectors):
        if vec is not None and len(facts) and np.size(vec) == facts.shape[1]:
            out[:, j] = facts @ np.asarray(vec, dtype=np.float64).reshape(-1)
    return out


@dataclass(frozen=True, slots=True)
class LinkCheck:
    """One fact's sources after the check (0-based turn indices) and how many of its cited
    in-range links were re-pointed."""

    sources: tuple[int, ...]
    repaired: int


def best_turns(row: np.ndarray, rules: LinkRules) -> tuple[int, ...]:
    """The best-supported turn and, up to ``max_sources``, the next best that clear the bar
    (``relative`` times the best), in batch order."""
    ranked = sorted(range(len(row)), key=lambda j: (-row[j], j))
    bar = rules.relative * float(row[ranked[0]])
    picked = [ranked[0]] + [j for j in ranked[1 : rules.max_sources] if row[j] >= bar]
    return tuple(sorted(picked))


def check_links(
    scores: np.ndarray, cited: Sequence[Sequence[int]], rules: LinkRules
) -> list[LinkCheck]:
    """Check each fact's cited turns against ``scores[fact, turn]``; ``cited[i]`` holds fact
    ``i``'s in-range 0-based turn indices (empty when the LLM gave none valid).

    Supported links are kept and unsupported ones dropped; when none is supported the fact
    is re-pointed to :func:`best_turns`. A fact with no valid link gets those turns too.
    When no turn of the batch reaches the floor there is nothing better to point at, and
    the cited links stay. A fact never ends without a source.
    """
    out: list[LinkCheck] = []
    for i, given in enumerate(cited):
        row = scores[i]
        links = list(dict.fromkeys(given))
        if row.size == 0:
            out.append(LinkCheck(tuple(links), 0))
            continue
        best = float(row.max())
        if not links:
            out.append(LinkCheck(best_turns(row, rules), 0))
        elif best < rules.floor:
            out.append(LinkCheck(tuple(links), 0))
        else:
            bar = max(rules.floor, rules.relative * best)
            kept = [j for j in links if row[j] >= bar]
            if not kept:
                better = best_turns(row, rules)
                out.append(LinkCheck(better, sum(1 for j in links if j not in better)))
            else:
                out.append(LinkCheck(tuple(kept), len(links) - len(kept)))
    return out
