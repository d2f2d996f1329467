"""`lightmem mcp` over stdio through the SDK's client, server start included: the real
start-up path (a client spawns it per session). The bound is generous, for a loaded CI
machine; the measured figures are in reports/mcp-startup.md."""

from __future__ import annotations

import pytest

pytest.importorskip("mcp")

from pathlib import Path

from lightmem import Memory
from lightmem.embedders.minilm import MiniLMEmbedder
from tests.server.mcp.startup import LIGHTMEM, measure


def test_a_stdio_call_with_server_start_answers_quickly(tmp_path: Path) -> None:
    if not LIGHTMEM.exists():
        pytest.skip("the lightmem console script is not installed in this environment")
    store = tmp_path / "store"
    with Memory(store, config={"llm": "none"}) as mem:  # the default MiniLM embedder
        mem.add("I like jazz and long walks", user_id="alice")
        mem.flush(user_id="alice")
    timing = measure(store, query="what music do I like")
    assert "jazz" in timing.text
    assert timing.total < 10.0, timing


def test_warm_loads_the_model_before_the_first_embedding() -> None:
    embedder = MiniLMEmbedder()
    assert embedder._loaded is None
    embedder.warm()
    assert embedder._loaded is not None
