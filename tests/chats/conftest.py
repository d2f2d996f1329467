"""Shared by the chat-import tests: the hand-written fixtures and a real memory with the
hashing embedder and no LLM."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lightmem import Memory

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[Memory]:
    with Memory(tmp_path / "s", config={"embedder": {"provider": "hash"}}) as mem:
        yield mem
