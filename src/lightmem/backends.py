"""Build backends from config through the registry (the one place provider names resolve)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypeVar

from lightmem.config import BackendSection, parse_options
from lightmem.embedders.base import Embedder
from lightmem.llm.base import LLM
from lightmem.registry import registry
from lightmem.sensory.compressors.base import Compressor
from lightmem.sensory.segmenters.base import Segmenter
from lightmem.stores.base import Store

B = TypeVar("B", LLM, Embedder, Store, Compressor, Segmenter)


def build(kind: str, section: BackendSection, base: type[B]) -> B:
    cls = registry.resolve(kind, section.provider, base)
    options = parse_options(cls.Options, section.options, kind)
    return cls(options)


def choose_llm_provider(section: BackendSection, environ: Mapping[str, str] | None = None) -> str:
    """Resolve ``auto``: an OpenAI-compatible endpoint when one is configured (options or
    ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``), else the local GGUF model when installed,
    else ``none`` (no-LLM mode)."""
    if section.provider != "auto":
        return section.provider
    env = os.environ if environ is None else environ
    opts = section.options
    if (
        opts.get("base_url")
        or opts.get("api_key")
        or env.get("OPENAI_BASE_URL")
        or env.get("OPENAI_API_KEY")
    ):
        return "openai"
    from lightmem.llm.local import LocalLLM

    if LocalLLM.available_locally():
        return "local"
    return "none"


def build_llm(section: BackendSection, environ: Mapping[str, str] | None = None) -> LLM:
    """The configured LLM; with ``auto`` the options apply to the ``openai`` choice only."""
    provider = choose_llm_provider(section, environ)
    keep = provider == section.provider or provider == "openai"
    options = dict(section.options) if keep else {}
    return build("llm", BackendSection(provider=provider, options=options), LLM)
