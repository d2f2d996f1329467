"""What an upstream user tripped over: upstream's import path, a `none` LLM with leftover
settings, and a `retrieve()` that answered "" in silence when extraction had failed."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest

from lightmem.compat import LightMemory, UpstreamCompatWarning, map_config
from tests.compat.test_upstream import quickstart, scripted, session  # noqa: F401


def test_upstreams_import_path_gives_the_same_class_and_names_ours() -> None:
    sys.modules.pop("lightmem.memory.lightmem", None)
    with pytest.warns(UpstreamCompatWarning, match="from lightmem.compat import LightMemory"):
        upstream = importlib.import_module("lightmem.memory.lightmem")
    assert upstream.LightMemory is LightMemory


def test_a_none_llm_takes_its_leftover_settings_without_effect(tmp_path: Path) -> None:
    config = {
        "memory_manager": {"model_name": "none", "configs": {"model": "gpt-4o-mini"}},
        "text_embedder": {"model_name": "hash"},
    }
    assert map_config(config).no_effect == ["memory_manager.configs.model"]
    with pytest.warns(UpstreamCompatWarning, match="memory_manager.configs.model"):
        lm = LightMemory.from_config(config, path=tmp_path / "s")
    with lm:
        assert lm.memory.llm_mode == "none"


def test_retrieve_says_why_it_found_nothing(quickstart: LightMemory) -> None:  # noqa: F811
    lm = quickstart
    scripted(lm).enqueue("not json", "still not json", "nope")
    lm.add_memory(
        session("2025-01-10", "I live in Porto.", "Nice."), force_segment=True, force_extract=True
    )
    with pytest.warns(UpstreamCompatWarning, match=r"2 turn\(s\) of user 'default' are not") as w:
        assert lm.retrieve("Where does the user live?") == ""
    assert "1 extraction batch(es) failed" in str(w[0].message) and "retries" in str(w[0].message)
    assert "Porto" not in str(w[0].message)  # no user text in the warning
