"""Text hygiene shared by input validation and LLM output parsing, and the folded words
that every lexical index (the stores' BM25, the retrieval layer's) is built from."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

_WORD = re.compile(r"[^\W_]+")  # letters and digits, as FTS5's unicode61 tokenizer keeps them


_STOP = """
a an the and or but if of to in on at by for with from as is are was were be been being
am do does did done have has had having i you he she it we they me him her us them my
your his its our their mine yours this that these those what which who whom whose when
where why how there here not no so than too very can could will would shall should may
might must just also then about into over after before again any all some such only own
same s t d ll m re ve don now up out off more most other each few both get got
"""
#: Function words that carry no topic (a short list: content words must stay).
STOP_WORDS = frozenset(_STOP.split())


def fold(text: str) -> str:
    """Lower case without diacritics (``"Café"`` -> ``"cafe"``)."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).lower()


def words(text: str) -> list[str]:
    """The folded words of ``text``: runs of letters and digits, lower case, no accents."""
    return _WORD.findall(fold(text))


def phrase_starts(said: Sequence[str], phrase: Sequence[str]) -> list[int]:
    """Where ``phrase`` (words) starts in ``said`` (words), as whole words."""
    n = len(phrase)
    return [i for i in range(len(said) - n + 1) if tuple(said[i : i + n]) == tuple(phrase)]


def has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def storable(text: str) -> bool:
    """Whether every store can keep ``text`` as given: no NUL character (PostgreSQL refuses
    it) and valid Unicode (no lone surrogate)."""
    return "\x00" not in text and not has_lone_surrogate(text)


def clean_text(text: str) -> str:
    """Replace what cannot be stored as UTF-8 (lone surrogates from JSON escapes such as
    ``"\\udfff"``) and NUL characters with U+FFFD."""
    if has_lone_surrogate(text):
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text.replace("\x00", "\ufffd")


#: What :func:`scrub` puts where user text was.
REDACTED = "[user text removed]"
_RUN = 3  # a run of this many words found in a private text is user text
_RUN_WORD = re.compile(r"\w+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")


def word_runs(text: str) -> list[str]:
    """The words :func:`scrub` compares: runs of word characters, lower case."""
    return _RUN_WORD.findall(text.lower())


def scrub(message: str, private: Iterable[str], limit: int = 300) -> str:
    """``message`` without the word runs it shares with the ``private`` texts (runs of
    three words, or the whole of a shorter text); a quoted string holding such a run goes
    whole. Whitespace is collapsed; at most ``limit`` characters are kept."""
    message = " ".join(clean_text(message)[: 4 * limit].split())
    texts = [word_runs(text) for text in private]
    haystack = " " + " ".join(w for words in texts for w in words) + " "
    short = {tuple(words) for words in texts if 0 < len(words) < _RUN}
    words = list(_RUN_WORD.finditer(message))
    lowered = [m.group().lower() for m in words]
    marked = [False] * len(words)
    for i in range(len(words)):
        if i + _RUN <= len(words) and f" {' '.join(lowered[i : i + _RUN])} " in haystack:
            marked[i : i + _RUN] = [True] * _RUN
        for n in range(1, _RUN):
            if i + n <= len(words) and tuple(lowered[i : i + n]) in short:
                marked[i : i + n] = [True] * n
    spans = [(m.start(), m.end()) for m, hit in zip(words, marked, strict=True) if hit]
    if spans:
        for q in _QUOTED.finditer(message):
            if any(q.start() <= a < q.end() for a, _ in spans):
                spans.append((q.start(), q.end()))
        message = _cut(message, spans)
    return message if len(message) <= limit else message[: limit - 1] + "…"


def _cut(text: str, spans: list[tuple[int, int]]) -> str:
    """Replace the union of ``spans`` (gaps of blanks and punctuation joined) by REDACTED."""
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and not text[merged[-1][1] : a].strip(" ,.;:!?'\"-"):
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    out, pos = [], 0
    for a, b in merged:
        out += [text[pos:a], REDACTED]
        pos = b
    out.append(text[pos:])
    return "".join(out)


#: URL schemes an image reference may not have: they run code or carry a document where a
#: reader (the memory browser, an app) expects a picture.
_UNSAFE_SCHEMES = ("javascript:", "vbscript:", "data:")
#: C0 controls, DEL and C1 controls: no real URL holds one raw, and browsers drop or skip
#: some of them (a leading "\x01" before "javascript:", a tab inside the scheme).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def unsafe_url(url: str) -> bool:
    """Whether ``url`` holds a control character, or is a javascript:, vbscript: or data:
    URL (data:image/... is not) as a browser would read it: blanks around and inside the
    scheme left out, any case."""
    if _CONTROL.search(url):
        return True
    folded = "".join(url.split()).lower()
    return folded.startswith(_UNSAFE_SCHEMES) and not folded.startswith("data:image/")
