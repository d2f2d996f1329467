"""People in a question: the speakers it names, by name or by the nickname the others call
them, so that a name finds what that person said without pulling in all their small talk.

A question about "the user" is searched over the user's own messages (role ``user``) too.
A speaker's aliases are their own name (and its first word), and the names the other
speaker of a two-person session greets them with ("Hello Kate", "Hey Emily!"). A question
naming a speaker is searched with the name taken out of its words (so "Kevin" does not match
every "Kevin:" turn), and the rankings are also run over that speaker's turns alone.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from lightmem.text import STOP_WORDS
from lightmem.types import Turn

#: times a name must greet the same person to be taken as their nickname
MIN_GREETINGS = 2

_GREETING = re.compile(
    r"^\s*(?i:hi|hey|hello|hiya|yo|morning|good (?:morning|afternoon|evening|night)|thanks|"
    r"thank you|dear|congrats|happy birthday)(?i:[,!\s]+there)?[,!\s]+([A-Z][a-z]+)\b"
)
_POSSESSIVE = re.compile(r"['’]s\b")


def aliases(turns: Sequence[Turn]) -> dict[str, str]:
    """Lower-case alias -> speaker name, over an owner's turns."""
    out: dict[str, str] = {}
    for t in turns:
        if t.speaker:
            key = t.speaker.strip().lower()
            out.setdefault(key, t.speaker)
            out.setdefault(key.split()[0], t.speaker)
    greeted: Counter[tuple[str, str]] = Counter()
    by_session: dict[str | None, set[str]] = {}
    for t in turns:
        if t.speaker:
            by_session.setdefault(t.session_id, set()).add(t.speaker)
    for t in turns:
        people = by_session.get(t.session_id, set())
        if not t.speaker or len(people) != 2:
            continue
        m = _GREETING.match(t.content)
        if m is None:
            continue
        (other,) = people - {t.speaker}
        greeted[(m.group(1).lower(), other)] += 1
    for (name, speaker), n in greeted.most_common():
        if n >= MIN_GREETINGS and name not in STOP_WORDS and len(name) > 2:
            out.setdefault(name, speaker)
    return out


_THE_USER = re.compile(r"\b(?:the )?user(?:['’]s)?\b", re.I)


def about_user(query: str) -> tuple[bool, str]:
    """Whether ``query`` asks about "the user" (whose memory this is: the messages of role
    ``user``), and the query with those words taken out."""
    stripped = _THE_USER.sub(" ", query)
    return stripped != query, _tidy(stripped) if stripped != query else query


def named_speakers(query: str, known: dict[str, str]) -> tuple[set[str], str]:
    """The speakers ``query`` names, and the query with those names taken out."""
    found: set[str] = set()
    lines = []
    for line in _POSSESSIVE.sub("", query).splitlines():
        words = []
        for raw in line.split():
            word = raw.strip(".,;:!?()[]\"'").lower()
            speaker = known.get(word)
            if speaker is not None:
                found.add(speaker)
                continue
            words.append(raw)
        lines.append(" ".join(words))
    return found, "\n".join(lines) if found else query


def _tidy(text: str) -> str:
    """Each line's words joined by one space; the lines kept (a query of several lines is
    embedded line by line)."""
    return "\n".join(" ".join(line.split()) for line in text.splitlines())
