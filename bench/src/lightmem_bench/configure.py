"""Turning command-line choices into a config and LLM backends.

``--llm``/``--embedder`` override the providers of the ``--config`` file (keeping its options
when the provider is the same). ``--answer-llm``/``--judge-llm`` take a provider name, a
config file with an ``[llm]`` section (or the section alone) or inline JSON; every LLM built
here gets the bench's endless fake responder if it is the ``scripted`` backend.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from lightmem.config import LLMSection, MemoryConfig, read_config_file
from lightmem.errors import ConfigError
from lightmem.llm.base import LLM
from lightmem.registry import build_llm
from lightmem_bench import fake


def load_config(path: Path | None, llm: str | None, embedder: str | None) -> MemoryConfig:
    overrides: dict[str, Any] = {}
    if llm is not None:
        overrides["llm"] = {"provider": llm}
    if embedder is not None:
        overrides["embedder"] = {"provider": embedder}
    source = read_config_file(path) if path is not None else {}
    for key, value in overrides.items():
        section = source.get(key)
        same = isinstance(section, dict) and section.get("provider") == value["provider"]
        source[key] = {**section, **value} if same and isinstance(section, dict) else value
    return MemoryConfig.load(source)


def llm_from_spec(spec: str | None, default: LLMSection) -> LLM:
    """An LLM from ``--answer-llm``/``--judge-llm``: a provider name, inline JSON, or a
    config file holding an ``[llm]`` section (or the section itself)."""
    if spec is None:
        section = default
    else:
        data: Any
        if spec.lstrip().startswith("{"):
            try:
                data = json.loads(spec)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"LLM spec is not valid JSON: {exc}") from None
        elif os.path.sep in spec or Path(spec).suffix in (".toml", ".json", ".yaml", ".yml"):
            data = read_config_file(Path(spec))
            data = data.get("llm", data)
        else:
            data = {"provider": spec}
        if isinstance(data, str):
            data = {"provider": data}
        section = MemoryConfig.load({"llm": data}).llm
    llm = build_llm(section)
    fake.install(llm)
    return llm
