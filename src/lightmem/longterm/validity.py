"""Validity in time without an LLM: at sleep time, a newer memory that states a change about
the same subject as an older one replaces it (``superseded_by``, ``valid_until``).

The rule, for a newer memory N and an older memory O of the same owner and speaker:

1. *same subject*: both are short statements (no question, at most ``MAX_WORDS`` words: a
   long message mixes subjects), share content words (stemmed, no
   stop words, no change words, not the speakers' names nor words most of the owner's
   memories use; a slot both fill in the speaker's voice, where one lives, works or what
   one eats, counts as a shared word, :mod:`.slots`): at least ``MIN_OVERLAP`` of the
   shorter one's, and their texts' own
   vectors are similar (cosine >= ``SUBJECT_COSINE``; without the "Speaker: " a no-LLM
   memory's stored vector starts with, which made any two short messages of one speaker
   look alike); sharing no content word, they are one subject only when a name or number
   of O's is swapped for another and the cosine reaches ``SWAP_COSINE`` ("we live in a
   flat in Glasgow", "we're in Edinburgh now"), or when N gives a new value, by "it", to a
   slot O filled in the speaker's own words and a change word says so ("my coffee order is
   a flat white", "I quit dairy, so now it's an oat cortado": see :func:`refills`), at
   ``SUBJECT_COSINE``;
2. *a change*: N says that something changed: a change word ("switched", "moved", "no
   longer", "instead", "quit", "raised", "relocated", "resigned", "died", "promoted",
   "swapped ... for", "stepped down", "went back to" ...), asserted (not "I won't quit", "I
   want to quit" but "I had to quit", "you should stop", "if I moved", "we are used to",
   "I haven't finished"; "ended up" is none), or a
   weaker one ("now", "new"; not "right now") with two shared words or a swapped detail (a
   name or number of O's that N lacks, and one of N's own; a number is its digits, "52k" is
   52; a capital that starts a sentence, "I'm" and the speakers' names, such as the one
   spoken to, are no details; or another value of a slot: "vegan" for "vegetarian");
3. *not a repeat*: N is not a near-duplicate of O (consolidation merges those) and does not
   keep all of O's details (then it adds to O rather than replacing it), nor does a weak
   cue come with a word that adds ("I also work as a tutor now", "another", "as well").

Among the older memories that pass, N replaces the most similar one (a change has one
predecessor). Small talk rarely passes: a greeting shares no content word with an older
statement. Decided once per new memory; a person can undo a replacement (``supersede`` with
None) and mark one by hand.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from lightmem.longterm.slots import slots
from lightmem.retrieval.lexical import stem, terms
from lightmem.text import phrase_starts, words

#: cosine from which two memories can be about the same subject
SUBJECT_COSINE = 0.30
#: cosine from which two memories sharing no content word are one subject, when a name or
#: number of the older one is swapped for another in the newer one
SWAP_COSINE = 0.6
#: cosine from which they say the same thing (left to the near-duplicate merge)
REPEAT_COSINE = 0.97
#: words that say something changed, on their own
_STRONG = """
anymore instead switched switch switching changed change transferred transfer quit quitting
stopped stop gave dropped replaced replacing retired rehomed adopted raised lowered pushed
postponed cancelled canceled rescheduled rewrote upgraded downgraded sold converted left
leaving moved former formerly ex relocated relocating resigned divorced
moving stopping dropping retiring selling cancelling canceling changing
died promoted increased decreased migrated ended
"""
#: words of an exchange: a change only when "for" follows within :data:`_FOR_WITHIN` words
#: ("we swapped Crete for the Algarve"; "I swapped shifts with Anna" is none)
_EXCHANGE = frozenset({"swapped", "swapping", "traded", "trading"})
_FOR_WITHIN = 5
#: words that say it only beside a second shared word or a swapped detail ("now", "new")
_WEAK = """
now new newly since started starting became become becoming currently lately recently
"""
_WORDS_MODAL = (
    "should would could might must may will shall gonna wanna want wants wish hope hopefully "
    "maybe perhaps probably d ll"
)
_WORDS_BEING = "am is are was were be been being get got getting m re s"
STRONG_CUES = frozenset(_STRONG.split())
WEAK_CUES = frozenset(_WEAK.split())
CUE_WORDS = STRONG_CUES | WEAK_CUES
CUE_PHRASES = (
    "no longer",
    "not anymore",
    "these days",
    "gave up",
    "given up",
    "giving up",
    "took in",
    "passed away",
    "fell out",
    "broke up",
    "change of plans",
    "stepped down",
    "stepping down",
    "stepped back",
    "stepping back",
    "gone back to",
    "went back to",
    "going back to",
    "moved back to",
    "switched back to",
    "pushed back",
    "moved to",
    "switched to",
    "from now on",
    "used to",
    "got a job",
    "got a new job",
    "landed a job",
    "found a job",
    "got hired",
    "was hired",
    "been hired",
    "started a new job",
    "started working at",
    "started working for",
)
#: words before "now" that make it "at this moment", not "from now on" ("right now")
_MOMENT = frozenset({"right", "just", "by", "until", "till", "til", "up"})
#: capitalised words that name no one: "I" and its contractions
_PRONOUN_I = frozenset({"i'm", "i’m", "i've", "i’ve", "i'd", "i’d", "i'll", "i’ll"})
#: negations ("haven't" is split into "haven" and "t")
_WORDS_NEGATION = "not never won wont can cant don dont didn doesn haven hasn hadn isn wasn"
_NEGATIONS = frozenset(_WORDS_NEGATION.split())
#: a cue followed by this word is an idiom, no change ("it ended up scratching me")
_IDIOMS = frozenset({("ended", "up"), ("died", "laughing")})
#: words that make what follows a wish, advice, plan or supposition ("I'd" and "I'll" are
#: split into "d" and "ll")
_MODALS = frozenset(_WORDS_MODAL.split())
_NOT_STATED = _NEGATIONS | _MODALS
#: "are used to", "we're used to", "got used to": accustomed, not a former habit
_BEING = frozenset(_WORDS_BEING.split())
#: abbreviations after which a capitalised word is a name, not a sentence's start
_TITLES = frozenset({"dr", "mr", "mrs", "ms", "st", "jr", "sr", "prof", "mt"})
_PHRASE_WORDS = tuple(tuple(p.split()) for p in CUE_PHRASES)
_CUE_STEMS = frozenset(stem(w) for w in CUE_WORDS | _EXCHANGE)
#: a name (a capitalised word), or a number: its digits, whatever unit follows ("52k" is 52,
#: "2nd" is 2), so that "45k" and "52k" differ and "2nd" and "2" do not
_DETAIL = re.compile(r"\b(?:[A-Z][\w'’.-]*[a-z][\w'’-]*|\d[\d.,:/-]*)")


@dataclass(frozen=True, slots=True)
class Candidate:
    """An older memory, its text and its cosine to the newer one."""

    entry_id: str
    text: str
    cosine: float


def content_terms(text: str) -> set[str]:
    """The words that carry a subject: stemmed, no stop words, no change words."""
    return {t for t in terms(text) if t not in _CUE_STEMS and len(t) > 2}


def change_cue(text: str) -> str | None:
    """``"strong"`` when the text says something changed, ``"weak"`` when it only hints at
    it ("now", "new"), None otherwise. A cue that is not asserted says nothing: negated
    ("I won't quit", "I haven't switched"), wished, advised or supposed ("I want to quit",
    "you should stop", "if I moved", "hopefully"), or "used to" as being accustomed ("we
    are used to it"); nor does an idiom ("it ended up ...") or an exchange that replaces
    nothing ("swapped" or "traded" is one only with a "for" after it, and no "with"
    before that: "we swapped Crete for the Algarve", not "I swapped shifts with Anna")."""
    said = words(text)
    for phrase in _PHRASE_WORDS:
        if any(not _unasserted(said, i) for i in phrase_starts(said, phrase)):
            return "strong"
    found = None
    for i, w in enumerate(said):
        if w == "now" and i > 0 and said[i - 1] in _MOMENT:
            continue
        if (w, said[i + 1] if i + 1 < len(said) else "") in _IDIOMS:
            continue
        if w in _EXCHANGE:
            if _exchanged(said, i) and not _unasserted(said, i):
                return "strong"
            continue
        if w in CUE_WORDS and not _unasserted(said, i):
            if w in STRONG_CUES:
                return "strong"
            found = "weak"
    return found


def _exchanged(said: list[str], i: int) -> bool:
    """Whether the exchange word at ``i`` gives one thing for another: a "for" within
    :data:`_FOR_WITHIN` words after it, and no "with" before that "for"."""
    after = said[i + 1 : i + 1 + _FOR_WITHIN]
    return "for" in after and "with" not in after[: after.index("for")]


def _unasserted(said: list[str], i: int) -> bool:
    """The cue at position ``i`` states no change: a negation or a modal within the three
    words before it, an "if" anywhere before it, "to" just before it (but for "had to":
    what one had to do was done), or "used" after a form of "be" or "get"."""
    if _NOT_STATED & set(said[max(0, i - 3) : i]) or "if" in said[:i]:
        return True
    before = said[i - 1] if i > 0 else ""
    if before == "to":  # a plan or a wish ("I want to quit"), but "I had to switch" did
        return i < 2 or said[i - 2] != "had"
    return said[i] == "used" and before in _BEING


def says_change(text: str) -> bool:
    return change_cue(text) is not None


def details(text: str) -> set[str]:
    """Names and numbers: capitalised words but those that start a sentence ("Thanks,
    Maria. Friendship means a lot" names Maria only; after "Dr." or "St." a name goes on)
    and "I'm" and the like; a number by its digits ("52k" is "52", "1,200" is "1200")."""
    out = set()
    for found in _DETAIL.finditer(text):
        d = found.group()
        if not d[:1].isdigit() and _starts_sentence(text[: found.start()]):
            continue
        d = d.lower().strip(".,:/-'’")
        out.add(d.replace(",", "") if d[:1].isdigit() else d)
    return out - _PRONOUN_I


def _starts_sentence(before: str) -> bool:
    """Whether a word after ``before`` starts a sentence: nothing before it but spaces and
    quotes, or a sentence's end that is no title ("Dr.", "St.")."""
    before = before.rstrip().rstrip("\"'“‘(").rstrip()
    if not before:
        return True
    if before[-1] not in ".!?":
        return False
    last = before.split()[-1].rstrip(".!?").lower()
    return last not in _TITLES


#: the least share of the shorter memory's content words the two must share
MIN_OVERLAP = 0.25
#: words a statement of one change holds at most (a long message mixes subjects)
MAX_WORDS = 40


def statement(text: str) -> bool:
    """A statement, not a question."""
    return "?" not in text


def replaces(
    newer: str,
    older: str,
    cosine: float,
    ignore: frozenset[str] = frozenset(),
    names: frozenset[str] = frozenset(),
) -> bool:
    """Whether ``newer`` states a change of what ``older`` said (the rule above); words in
    ``ignore`` (the speakers' names, words most of the owner's memories use) carry no
    subject, and ``names`` (the speakers') are no details. ``cosine`` is the two texts'
    own (no "Speaker: " before them: a name both start with makes any two of one speaker's
    short messages look alike)."""
    least = worded_as_change(newer, older, ignore, names)
    return least is not None and least <= cosine < REPEAT_COSINE


def worded_as_change(
    newer: str,
    older: str,
    ignore: frozenset[str] = frozenset(),
    names: frozenset[str] = frozenset(),
) -> float | None:
    """The rule's conditions on the words alone: None when they rule a change out, else the
    least cosine at which the two are one subject (``SUBJECT_COSINE``; ``SWAP_COSINE`` when
    they share no content word and only a swapped name or number ties them: "we live in a
    flat in Glasgow", "we're in Edinburgh now"; ``SUBJECT_COSINE`` again where ``newer``
    refills ``older``'s slot by "it")."""
    if not (statement(newer) and statement(older)):
        return None
    if max(len(newer.split()), len(older.split())) > MAX_WORDS:
        return None
    a, b = content_terms(newer) - ignore, content_terms(older) - ignore
    filled, held = slots(newer, names), slots(older, names)
    both = filled.keys() & held.keys()  # a slot is a subject, however common its words
    a |= {f"#{s}" for s in both}
    b |= {f"#{s}" for s in both}
    shared = a & b
    old_details, new_details = details(older) - names, details(newer) - names
    swapped = bool(old_details - new_details) and bool(new_details - old_details)
    swapped = swapped or any(filled[s] - held[s] and held[s] - filled[s] for s in both)
    cue = change_cue(newer)
    if cue == "weak" and adds(newer):
        return None  # "I also work as a tutor now": one more, not another
    if not shared:
        if cue == "strong" and refills(newer, older):
            return SUBJECT_COSINE
        return SWAP_COSINE if cue is not None and swapped else None
    if len(shared) < MIN_OVERLAP * min(len(a), len(b)) and not both:
        return None
    if old_details and old_details <= new_details and cue is None:
        return None  # keeps every detail: it adds, it does not replace
    if cue == "strong" or (cue == "weak" and (swapped or len(shared) >= 2)):
        return SUBJECT_COSINE
    return None


#: words that make a weak cue's news one more of something, not a replacement
_ADDING = frozenset({"also", "another", "second", "additionally", "besides", "weekends", "side"})
_ADDING_PHRASES = (("as", "well"), ("part", "time"))


def adds(text: str) -> bool:
    """Whether ``text`` adds to what was said ("also", "another", "as well", "part time",
    "on weekends"): beside a weak cue ("I also work as a tutor now"), no replacement."""
    said = words(text)
    return bool(_ADDING & set(said)) or any(phrase_starts(said, p) for p in _ADDING_PHRASES)


_ARTICLES = frozenset({"a", "an", "the"})
_IS = frozenset({"is", "are", "s", "re"})
#: words between "my" and the "is" of a statement of one's own slot ("my coffee order is")
_SLOT_NAME = 3


def refills(newer: str, older: str) -> bool:
    """Whether ``newer`` gives a new value, by "it", to a slot ``older`` filled in the
    speaker's own words: "now it's an oat cortado" after "my coffee order is a flat white".
    Both values are things named with an article (a, an, the); the words of the two then
    need not meet."""
    return _value_by_it(words(newer)) and _own_slot(words(older))


def _value_by_it(said: list[str]) -> bool:
    """ "it's a ...", "it is now the ...": a value given to a slot named before."""
    for i in range(len(said) - 2):
        if said[i] == "it" and said[i + 1] in ("s", "is"):
            value = said[i + 2 : i + 4]
            if value[0] == "now":
                value = value[1:]
            if value and value[0] in _ARTICLES:
                return True
    return False


def _own_slot(said: list[str]) -> bool:
    """ "my coffee order is a ...": a slot of the speaker's filled with a thing."""
    return any(
        said[i] == "my" and said[j] in _IS and said[j + 1] in _ARTICLES
        for i in range(len(said))
        for j in range(i + 2, min(i + 2 + _SLOT_NAME, len(said) - 1))
    )


def predecessor(
    newer: str,
    candidates: list[Candidate],
    ignore: frozenset[str] = frozenset(),
    names: frozenset[str] = frozenset(),
    rescore: Callable[[list[Candidate]], list[Candidate]] | None = None,
) -> str | None:
    """The older memory ``newer`` replaces: the most similar one that passes the rule (of
    equally similar ones, the first in ``candidates``' order). ``rescore`` gives the
    candidates whose words pass their cosine anew (the texts' own, embedded only for
    those), in the same order."""
    least = [worded_as_change(newer, c.text, ignore, names) for c in candidates]
    worded = [(c, t) for c, t in zip(candidates, least, strict=True) if t is not None]
    if rescore is not None and worded:
        fresh = rescore([c for c, _ in worded])
        worded = [(c, t) for c, (_, t) in zip(fresh, worded, strict=True)]
    passing = [c for c, t in worded if t <= c.cosine < REPEAT_COSINE]
    if not passing:
        return None
    return max(passing, key=lambda c: c.cosine).entry_id


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b))
