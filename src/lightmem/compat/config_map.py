"""Map an upstream zjunlp/LightMem config dict onto a LightMem :class:`MemoryConfig` dict.

:func:`map_config` is pure: it reads the upstream dict and returns our config as a plain
dict, the store directory, the update mode and the upstream keys that are accepted but have
no effect here. Each upstream key is handled in one of four ways (the table is
``docs/compat.md``):

- *mapped*: translated onto our config;
- *same as upstream*: upstream does not act on it either (``extract_threshold``,
  ``kv_cache``), or LightMem always behaves as it asks (``index_strategy``): accepted silently;
- *no effect*: upstream acts on it and LightMem cannot; accepted, and the caller warns with
  its dotted name (a value that switches the feature off is not reported);
- *unsupported*: a value LightMem cannot honour (``graph_mem: true``, a Qdrant server):
  :class:`ConfigError` naming the key and what to do instead.

A ``model_name`` that is not an upstream backend is taken as a LightMem provider name, its
``configs`` as that provider's options (``{"model_name": "scripted"}``, ``"hash"``); the
registry checks the name when the store opens.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from lightmem.compat.helpers import Notes, bad, mapping, section
from lightmem.compat.sensory_map import map_compressor, map_segmenter
from lightmem.errors import ConfigError

UpdateMode = Literal["offline", "online"]

#: Every top-level key of upstream's ``BaseMemoryConfigs``; anything else is an error.
TOP_LEVEL_KEYS: Final = frozenset(
    {
        "pre_compress",
        "pre_compressor",
        "topic_segment",
        "precomp_topic_shared",
        "topic_segmenter",
        "messages_use",
        "metadata_generate",
        "text_summary",
        "memory_manager",
        "extract_threshold",
        "index_strategy",
        "text_embedder",
        "multimodal_embedder",
        "history_db_path",
        "retrieve_strategy",
        "context_retriever",
        "embedding_retriever",
        "summary_retriever",
        "update",
        "kv_cache",
        "kv_cache_path",
        "graph_mem",
        "version",
        "logging",
        "extraction_mode",
    }
)

#: Upstream LLM backends that speak the OpenAI chat API, with their default base URL.
OPENAI_COMPATIBLE: Final[dict[str, str | None]] = {
    "openai": None,  # our default: $OPENAI_BASE_URL or OpenAI's
    "deepseek": "https://api.deepseek.com/v1",
    "vllm": None,
    "ollama": "http://localhost:11434",
}
#: memory_manager.configs keys that steer upstream's calls and not ours.
_LLM_NO_EFFECT: Final = frozenset(
    {
        "max_tokens",
        "top_p",
        "top_k",
        "seed",
        "do_sample",
        "stop",
        "enable_vision",
        "vision_details",
        "include_topic_summary",
        "num_gpu",
        "main_gpu",
        "gpu_memory_utilization",
        "trust_remote_code",
        "site_url",
        "app_name",
        "models",
        "route",
        "reasoning_effort",
        "thinking",
    }
)
_BASE_URL_KEYS: Final = frozenset(
    {"openai_base_url", "deepseek_base_url", "vllm_base_url", "ollama_base_url", "host"}
)
_MINILM = "all-minilm-l6-v2"
_MINILM_DIM = 384
_RETRIEVAL_MODES: Final = {"embedding": "dense", "context": "bm25", "hybrid": "hybrid"}
_QDRANT_SERVER_KEYS: Final = frozenset({"host", "port", "url", "api_key", "client"})
_QDRANT_LOCAL_KEYS: Final = frozenset(
    {"path", "collection_name", "embedding_model_dims", "on_disk"}
)


@dataclass(slots=True)
class MappedConfig:
    """The result of :func:`map_config`."""

    config: dict[str, Any]
    store_path: Path | None = None
    update: UpdateMode = "offline"
    no_effect: list[str] = field(default_factory=list)


def map_config(upstream: Mapping[str, Any]) -> MappedConfig:
    """Translate an upstream ``LightMemory.from_config`` dict; raise ConfigError on keys or
    values that LightMem cannot honour."""
    if not isinstance(upstream, Mapping):
        raise ConfigError(
            f"the upstream LightMem config must be a dict, not {type(upstream).__name__}"
        )
    unknown = sorted(str(k) for k in upstream if k not in TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(
            f"unknown upstream LightMem config key(s) {', '.join(map(repr, unknown))}: check "
            f"the spelling; docs/compat.md lists every key LightMemory.from_config accepts"
        )
    return _Mapper(upstream).run()


class _Mapper:
    def __init__(self, upstream: Mapping[str, Any]) -> None:
        self.up = upstream
        self.out: dict[str, Any] = {}
        self.notes = Notes()

    def run(self) -> MappedConfig:
        self._reject_unsupported()
        self._llm()
        self._embedder()
        self.out["compressor"], lingua_model = map_compressor(self.up, self.notes)
        segmenter, buffer = map_segmenter(self.up, self.notes, lingua_model)
        if segmenter is not None:
            self.out["segmenter"] = segmenter
        if buffer is not None:
            self.out["buffer"] = buffer
        self._retrieval()
        store_path = self._store()
        update = self.up.get("update", "offline")
        if update not in ("offline", "online"):
            raise bad("update", f"must be 'offline' or 'online', not {update!r}")
        messages_use = self.up.get("messages_use", "user_only")
        if messages_use not in ("user_only", "assistant_only", "hybrid"):
            raise bad(
                "messages_use", f"must be user_only, assistant_only or hybrid: {messages_use!r}"
            )
        if "messages_use" in self.up and messages_use != "hybrid":
            self.notes.keys.append("messages_use")  # extraction always reads both roles
        for key in ("logging", "summary_retriever"):
            self.notes.note(key, self.up.get(key))
        return MappedConfig(self.out, store_path, update, self.notes.keys)

    def _reject_unsupported(self) -> None:
        if self.up.get("graph_mem"):
            raise bad("graph_mem", "graph memory is not supported; remove it or set it false")
        if self.up.get("multimodal_embedder") is not None:
            raise bad("multimodal_embedder", "LightMem stores text only; remove the key")
        mode = self.up.get("extraction_mode")
        if mode not in (None, "flat", "event"):
            raise bad("extraction_mode", f"{mode!r} is not a mode; use 'flat' or 'event'")
        if mode == "event":  # StructMem: events binding their facts
            self.out.setdefault("extraction", {})["mode"] = "event"

    # -- memory_manager -> llm ------------------------------------------------------------------
    def _llm(self) -> None:
        if not (self.up.get("metadata_generate", True) and self.up.get("text_summary", True)):
            # Upstream extracts nothing without both; our no-LLM mode keeps the turns as memories.
            self.out["llm"] = {"provider": "none"}
            return
        mm = section(self.up, "memory_manager")
        if mm is None:
            self.out["llm"] = {"provider": "auto"}
            return
        name = mm.get("model_name", "openai")
        configs = mapping(mm.get("configs"), "memory_manager.configs")
        if name in ("transformers", "vllm_offline"):
            raise bad(
                "memory_manager.model_name",
                f"{name!r} runs a Hugging Face model in-process, which LightMem does not; serve "
                f"the model behind an OpenAI-compatible endpoint (vllm serve, ollama) and use "
                f"'vllm' or 'ollama' with its base URL, or 'local' for a GGUF model",
            )
        if name == "none":  # our no-LLM mode: no LLM setting can take effect
            for key, value in configs.items():
                self.notes.note(f"memory_manager.configs.{key}", value)
            self.out["llm"] = {"provider": "none"}
            return
        if name not in OPENAI_COMPATIBLE:  # one of ours: scripted, local, auto, dotted
            self.out["llm"] = {"provider": name, "options": dict(configs)}
            return
        options: dict[str, Any] = {}
        base_url = OPENAI_COMPATIBLE[name]
        own_url = {f"{name}_base_url"} | ({"host"} if name == "ollama" else set())
        for key, value in configs.items():
            where = f"memory_manager.configs.{key}"
            if key == "model":
                if value is not None and not isinstance(value, str):
                    raise bad(where, "must be a model name string")
                if value:
                    options["model"] = value
            elif key in ("api_key", "temperature"):
                if value is not None:
                    options[key] = value
            elif key in own_url:
                base_url = value or base_url
            elif key in _BASE_URL_KEYS or key in _LLM_NO_EFFECT:
                self.notes.note(where, value)
            else:
                raise bad(where, f"is not a memory_manager setting upstream knows ({name!r})")
        if name == "ollama":
            if "model" not in options:
                raise bad("memory_manager.configs.model", "name the Ollama model to use")
            assert base_url is not None
            base_url = base_url.rstrip("/")
            if not base_url.endswith("/v1"):
                base_url += "/v1"  # Ollama's OpenAI-compatible API
        elif name == "deepseek":
            options.setdefault("model", "deepseek-chat")
        if base_url:
            options["base_url"] = base_url
        self.out["llm"] = {"provider": "openai", "options": options}

    # -- text_embedder -> embedder ------------------------------------------------------------
    def _embedder(self) -> None:
        te = section(self.up, "text_embedder")
        if te is None:
            return  # our default: all-MiniLM-L6-v2, as upstream's huggingface default
        name = te.get("model_name", "huggingface")
        configs = mapping(te.get("configs"), "text_embedder.configs")
        if name == "huggingface":
            model = configs.get("model")
            if model is not None and _MINILM not in str(model).lower():
                raise bad(
                    "text_embedder.configs.model",
                    f"{model!r}: LightMem's local embedder is all-MiniLM-L6-v2; serve another "
                    f"model behind an OpenAI-compatible /embeddings endpoint and use "
                    f"model_name 'openai'",
                )
            dims = configs.get("embedding_dims")
            if dims not in (None, _MINILM_DIM):
                raise bad("text_embedder.configs.embedding_dims", "all-MiniLM-L6-v2 gives 384")
            for key, value in configs.items():
                where = f"text_embedder.configs.{key}"
                if key in ("model_kwargs", "huggingface_base_url"):
                    self.notes.note_device(where, value)
                elif key not in ("model", "embedding_dims"):
                    raise bad(where, "is not a huggingface text_embedder setting")
            # configs.model (a path) is not read: LightMem ships its own copy of the model.
            self.out["embedder"] = {"provider": "minilm"}
        elif name == "openai":
            options: dict[str, Any] = {}
            renames = {
                "model": "model",
                "api_key": "api_key",
                "openai_base_url": "base_url",
                "embedding_dims": "dim",
            }
            for key, value in configs.items():
                if key in renames:
                    if value is not None:
                        options[renames[key]] = value
                elif key in ("model_kwargs", "ollama_base_url", "huggingface_base_url"):
                    self.notes.note(f"text_embedder.configs.{key}", value)
                else:
                    raise bad(f"text_embedder.configs.{key}", "is not an openai embedder setting")
            self.out["embedder"] = {"provider": "openai", "options": options}
        else:
            self.out["embedder"] = {"provider": name, "options": dict(configs)}

    # -- retrieval and store --------------------------------------------------------------------
    def _retrieval(self) -> None:
        strategy = self.up.get("retrieve_strategy") or "embedding"  # upstream's default
        if strategy not in _RETRIEVAL_MODES:
            raise bad("retrieve_strategy", f"must be embedding, context or hybrid: {strategy!r}")
        self.out["retrieval"] = {"mode": _RETRIEVAL_MODES[strategy]}
        cr = section(self.up, "context_retriever")
        if cr is not None:
            name = cr.get("model_name", "BM25")
            if str(name).lower() != "bm25":
                raise bad("context_retriever.model_name", f"only BM25 is supported: {name!r}")
            self.notes.note("context_retriever.configs", cr.get("configs"))

    def _store(self) -> Path | None:
        er = section(self.up, "embedding_retriever")
        if er is None:
            return None
        name = er.get("model_name", "qdrant")
        if name != "qdrant":
            raise bad("embedding_retriever.model_name", f"only qdrant is known upstream: {name!r}")
        configs = mapping(er.get("configs"), "embedding_retriever.configs")
        for key in configs:
            where = f"embedding_retriever.configs.{key}"
            if key in _QDRANT_SERVER_KEYS and configs[key] is not None:
                raise bad(
                    where,
                    "a Qdrant server is not supported: LightMem keeps its store in a local "
                    "directory; give configs.path instead",
                )
            if key not in _QDRANT_SERVER_KEYS | _QDRANT_LOCAL_KEYS:
                raise bad(where, "is not a qdrant setting")
        path = configs.get("path")
        if not path:
            return None
        # One store per (path, collection), as upstream keeps collections apart.
        return Path(path) / str(configs.get("collection_name") or "lightmem")
