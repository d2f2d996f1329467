"""Scrubbing user text out of failure messages."""

from __future__ import annotations

from lightmem.failures import REDACTED, describe, scrub, turn_texts

TURN = "Maya: My cat Pixel only eats salmon flavoured kibble these days."


def test_a_quoted_echo_of_the_prompt_goes_whole() -> None:
    message = f"HTTP 400: Invalid 'messages[1].content': '[1] {TURN}' is too long"
    out = scrub(message, [TURN])
    assert out == f"HTTP 400: Invalid 'messages[1].content': {REDACTED} is too long"


def test_an_unquoted_run_of_user_words_is_removed() -> None:
    out = scrub("bad input near only eats salmon flavoured kibble at char 12", [TURN])
    assert "salmon" not in out and REDACTED in out
    assert out.startswith("bad input near") and out.endswith("at char 12")


def test_a_short_text_is_removed_whole() -> None:
    out = scrub("last message: 'Maya: Done'", ["Maya: Done"])
    assert "Done" not in out


def test_a_message_without_user_text_is_kept_and_bounded() -> None:
    message = "HTTP 503 after 4 attempt(s): upstream busy"
    assert scrub(message, [TURN]) == message
    long = scrub("x" * 1000, [])
    assert len(long) == 300 and long.endswith("…")


def test_describe_names_the_type_and_withholds_without_the_texts() -> None:
    assert describe(ValueError("bad"), []) == "ValueError: bad"
    assert "withheld" in describe(ValueError(f"bad {TURN}"), None)
    assert "Pixel" not in describe(ValueError(f"bad {TURN}"), None)


def test_turn_texts_hold_speaker_text_and_view() -> None:
    from lightmem.types import Scope, Turn

    turn = Turn("t1", Scope("u"), 1, "user", "Pixel eats salmon", speaker="Maya")
    assert turn_texts([turn]) == ["Maya", "Pixel eats salmon"]
    turn.compressed = "Pixel salmon"
    assert turn_texts([turn]) == ["Maya", "Pixel eats salmon", "Pixel salmon"]
    out = scrub("echo: 'Maya said hi' and Maya: done", turn_texts([turn]))
    assert "Maya" not in out


def test_a_short_private_text_at_the_end_of_a_message_is_cut() -> None:
    """A one-word text found as the message's last word (it crashed the scrubber)."""
    assert scrub("the endpoint answered: ok", ["OK"]) == f"the endpoint answered: {REDACTED}"
