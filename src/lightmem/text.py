"""Text hygiene shared by input validation and LLM output parsing."""

from __future__ import annotations


def has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def clean_text(text: str) -> str:
    """Replace what cannot be stored as UTF-8 (lone surrogates from JSON escapes such as
    ``"\\udfff"``) and NUL characters with U+FFFD."""
    if has_lone_surrogate(text):
        text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    return text.replace("\x00", "\ufffd")
