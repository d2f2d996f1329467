"""The few things a person has one of at a time (where they live, where they work, what
they eat), found by the words that fill them in the speaker's own voice: two memories that
fill one such slot are about one subject whatever their other words ("I work at Google"
and "I just started a new job at Microsoft" share no content word; "I live in Lisbon" and
"We moved to Porto last month, loving it so far" share only the slot).

A slot is filled only when its speaker is the one who fills it: the nearest subject before
the filler (within :data:`SUBJECT_WITHIN` words) is "I", "we" or the speaker's name (as an
LLM writes a fact), not another person ("I just started a new job at" fills the speaker's
job; "my sister moved to Paris" and "I think my brother got a job at" fill none of the
speaker's). Used by :mod:`lightmem.longterm.validity`'s rule.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lightmem.text import phrase_starts, words

#: a slot -> the word sequences that fill it (after one that ends in "as", its value)
FILLERS: dict[str, tuple[tuple[str, ...], ...]] = {
    "home": tuple(
        tuple(p.split())
        for p in (
            "live in",
            "lives in",
            "lived in",
            "living in",
            "based in",
        )
    ),
    "job": tuple(
        tuple(p.split())
        for p in (
            "work at",
            "work for",
            "works at",
            "works for",
            "working at",
            "working for",
            "work as",
            "works as",
            "worked as",
            "working as",
            "job at",
            "job with",
            "job as",
            "employed at",
            "employed by",
            "hired at",
            "hired by",
        )
    ),
}
#: a move fills the home slot only to a place named ("moved to Porto", "moved back to the
#: Algarve"; "moved to the new office downstairs" is none)
_MOVED = re.compile(r"\b(?:moved|moving|relocated|relocating)(?: back)? to (?:the )?[A-Z]")
#: a slot whose filler is its value: one value at a time ("vegan" after "vegetarian")
VALUES: dict[str, frozenset[str]] = {
    "diet": frozenset({"vegetarian", "vegan", "pescatarian", "flexitarian", "omnivore"}),
}
#: articles skipped before a value named after "as" ("I work as a nurse": nurse)
_ARTICLES = frozenset({"a", "an", "the"})
#: how far before its filler its subject may be ("I just started a new job at")
SUBJECT_WITHIN = 6
#: the speaker's own voice ("I'm" and "we've" are split into "i", "m", "we", "ve")
FIRST_PERSON = frozenset({"i", "we"})
#: someone or something else: the nearest of these before a filler makes it not the
#: speaker's ("my sister moved to", "that one works for guys too")
OTHERS = frozenset(
    {"my", "our", "your", "his", "her", "their", "he", "she", "they", "you", "it", "its"}
    | {"that", "this", "these", "those", "which", "who", "one", "people"}
)


def slots(text: str, names: Iterable[str] = ()) -> dict[str, frozenset[str]]:
    """The slots ``text`` fills in the speaker's voice (``names``: the speakers' names, as
    subjects of an LLM's facts), each with the values it names: a :data:`VALUES` slot's
    words, the word after a filler that ends in "as" ("I work as a nurse": nurse); else
    none (a place or an employer is a name, which the rule compares as a detail)."""
    said = words(text)
    subjects = FIRST_PERSON | {w for n in names for w in words(n)}
    out: dict[str, frozenset[str]] = {}
    for slot, fillers in FILLERS.items():
        for filler in fillers:
            at = [i for i in phrase_starts(said, filler) if _spoken(said, i, subjects)]
            if at:
                k = len(filler)
                named = [_named_as(said[i + k :]) for i in at] if filler[-1] == "as" else []
                out[slot] = out.get(slot, frozenset()) | {v for v in named if v}
    if "home" not in out:
        for move in _MOVED.finditer(text):
            if _spoken(said, len(words(text[: move.start()])), subjects):
                out["home"] = frozenset()
                break
    for slot, values in VALUES.items():
        found = frozenset(
            w for i, w in enumerate(said) if w in values and _spoken(said, i, subjects)
        )
        if found:
            out[slot] = found
    return out


def _named_as(rest: list[str]) -> str | None:
    """The value after "as": its first word that is no article."""
    return next((w for w in rest[:2] if w not in _ARTICLES), None)


def _spoken(said: list[str], i: int, subjects: frozenset[str]) -> bool:
    """Whether the nearest subject before ``i`` (within :data:`SUBJECT_WITHIN` words) is the
    speaker."""
    before = said[max(0, i - SUBJECT_WITHIN) : i]
    for j in range(len(before) - 1, -1, -1):
        w = before[j]
        if w in subjects:
            return True
        if w in OTHERS or (w == "s" and j > 0 and before[j - 1] not in subjects):
            return False  # someone else's ("Maria's work at"; "John's moving to" is his)
    return False
