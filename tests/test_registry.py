"""Building backends through the registry, and what ``provider = "auto"`` resolves to."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

from lightmem import Memory
from lightmem.config import LLMSection
from lightmem.llm.base import LLM
from lightmem.llm.local import LocalLLM
from lightmem.llm.none import NoLLM
from lightmem.llm.openai import OpenAILLM
from lightmem.registry import Registry, build_llm, registry


def test_auto_without_an_endpoint_is_no_llm_mode_even_with_the_local_model() -> None:
    # The local model is never picked by auto, installed or not.
    assert LocalLLM.auto_priority is None
    assert isinstance(build_llm(LLMSection(), environ={}), NoLLM)


@pytest.mark.parametrize(
    ("options", "environ"),
    [
        ({"base_url": "http://127.0.0.1:9/v1"}, {}),
        ({"api_key": "sk-test"}, {}),
        ({}, {"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}),
        ({}, {"OPENAI_API_KEY": "sk-test"}),
    ],
)
def test_auto_with_an_endpoint_is_openai(options: dict[str, Any], environ: dict[str, str]) -> None:
    assert isinstance(build_llm(LLMSection(options=options), environ=environ), OpenAILLM)


def test_auto_options_go_to_the_endpoint_and_not_to_no_llm_mode() -> None:
    llm = build_llm(LLMSection(options={"model": "m1"}), environ={"OPENAI_API_KEY": "k"})
    assert llm.model_name == "m1"
    assert isinstance(build_llm(LLMSection(options={"model": "m1"}), environ={}), NoLLM)


def test_a_plugin_can_be_picked_by_auto() -> None:
    class PluginLLM(NoLLM):
        auto_priority: ClassVar[int | None] = 1000

        @classmethod
        def auto_available(cls, options: Any, environ: Any) -> bool:
            return environ.get("PLUGIN_ON") == "1"

    reg = Registry()
    reg.register("llm", "plugin", PluginLLM)
    assert reg.auto("llm", LLM, {}, {"PLUGIN_ON": "1"}) == "plugin"
    assert reg.auto("llm", LLM, {}, {"PLUGIN_ON": "0", "OPENAI_API_KEY": "k"}) == "openai"
    assert registry.auto("llm", LLM, {}, {}) == "none"


def test_memory_with_default_llm_and_no_endpoint_is_in_no_llm_mode(tmp_path: Path) -> None:
    mem = Memory(tmp_path / "s", config={"embedder": {"provider": "hash", "options": {"dim": 8}}})
    try:
        assert mem.llm_mode == "none"
    finally:
        mem.close()
