"""Typed configuration at the edge.

Accepts a dict, a TOML/YAML file or keyword arguments; validates into pydantic models with
``extra="forbid"`` (a misspelled key is an error that names it); environment variables
``LIGHTMEM_<SECTION>__<KEY>`` override (e.g. ``LIGHTMEM_LLM__PROVIDER=none``) for the run
that sees them. The resolved config, less the environment's part, is saved beside the store
so a saved store describes itself; a config given when the store is opened again is laid
over the saved one (``base``): it changes the keys it names. A backend section that names
another provider is replaced whole, as the old provider's options would not fit the new one.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from lightmem.errors import ConfigError

ENV_PREFIX = "LIGHTMEM_"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class BackendSection(_Section):
    """A backend choice: a provider name from the registry plus its own options."""

    provider: str
    options: dict[str, Any] = Field(default_factory=dict)


class LLMSection(BackendSection):
    # "auto": an OpenAI-compatible endpoint if one is configured, else no-LLM mode; the
    # local model only when named ("local"). The choice is reported by Memory.llm_mode.
    provider: str = "auto"


class EmbedderSection(BackendSection):
    provider: str = "minilm"


class StoreSection(BackendSection):
    provider: str = "sqlite"


class CompressorSection(BackendSection):
    provider: str = "none"


class SegmenterSection(BackendSection):
    #: auto: combined (attention + similarity) when an LLM extracts, else similarity
    provider: str = "auto"


class ImageEmbedderSection(BackendSection):
    # "none": images are kept by reference and searched by their captions only
    provider: str = "none"


class BufferSection(_Section):
    sensory_tokens: int = Field(512, ge=1, description="sensory buffer size before segmenting")
    max_segment_tokens: int = Field(
        4096,
        ge=1,
        description="an open topic segment is carried over to the next buffer up to this size",
    )
    shortterm_tokens: int = Field(
        2048, ge=0, description="short-term threshold th; 0 extracts every segment at once"
    )
    max_batch_tokens: int = Field(
        8000, ge=64, description="upper bound on turn tokens sent in one extraction call"
    )


class ExtractionSection(_Section):
    mode: Literal["facts", "event"] = Field(
        "facts", description="facts: standalone facts; event: events binding their facts"
    )
    max_retries: int = Field(2, ge=0, le=10)
    max_attempts_per_batch: int = Field(
        5, ge=1, description="failed batches are retried by each flush until this many attempts"
    )


class ConsolidationSection(_Section):
    threshold: float = Field(0.8, ge=-1.0, le=1.0)
    top_k: int = Field(5, ge=1, le=100)
    workers: int = Field(4, ge=1, le=64)
    duplicate_threshold: float = Field(0.97, ge=-1.0, le=1.0)
    max_call_tokens: int = Field(
        3000, ge=100, description="prompt tokens of targets decided in one update call"
    )
    max_targets_per_call: int = Field(
        20, ge=1, le=200, description="targets decided in one update call; 1: one call each"
    )


class SummariesSection(_Section):
    enabled: bool = Field(True, description="build session summaries at sleep time")
    sessions_per_call: int = Field(
        8, ge=1, le=64, description="sessions summarised in one LLM call; 1: a call each"
    )
    max_call_tokens: int = Field(
        6000, ge=200, description="turn tokens of the sessions summarised in one call"
    )


class RetrievalSection(_Section):
    #: hierarchical is hybrid until sleep time has built session summaries
    mode: Literal["dense", "bm25", "hybrid", "hierarchical"] = "hierarchical"
    rrf_k: int = Field(10, ge=1, description="reciprocal-rank fusion constant k")
    limit: int = Field(10, ge=1, le=1000)
    turns: bool = Field(
        True, description="rank the raw turns in one pool with the memories (facts)"
    )
    memory_weight: float = Field(
        2.0, ge=0.0, le=100.0, description="fusion weight of each memory list vs a turn list"
    )
    context_window: int = Field(
        2, ge=0, le=20, description="turns each side keyed into a turn's context key"
    )
    neighbour_weight: float = Field(
        0.3, ge=0.0, le=10.0, description="weight of a neighbour's vector in a context key"
    )
    source_weight: float = Field(
        0.6, ge=0.0, le=10.0, description="weight of a memory's source turns in its dense key"
    )
    context_window_words: int = Field(
        60,
        ge=0,
        le=10_000,
        description="a turn's context key also takes neighbours beyond context_window while "
        "they fit this many words (short chat messages get more context), 8 each side at most",
    )
    snapshot_min_rows: int = Field(
        2000,
        ge=0,
        description="an owner's search index of this many rows or more is written to a "
        "snapshot file when the store closes and read back at its next first search "
        "(SQLite stores); 0: never",
    )
    pool_max_items: int = Field(
        50_000,
        ge=0,
        description="no effect (kept so older saved configs load): every owner is searched "
        "through the same incremental index, whatever its size",
    )
    context_tokens: int = Field(
        1000, ge=50, le=200_000, description="default token budget of Memory.context()"
    )
    sessions: int = Field(
        3, ge=1, le=100, description="hierarchical: sessions (by their summaries) drilled into"
    )
    session_weight: float = Field(
        0.3, ge=0.0, le=100.0, description="hierarchical: weight of the drilled-in rankings"
    )


class WorkerSection(_Section):
    idle_flush_seconds: float = Field(
        30.0,
        ge=0.0,
        description="a buffer with no new turn for this long is segmented and extracted in "
        "full (its open segment closed), as a flush would: by `lightmem worker` and by the "
        "background threads (serve, mcp, proxy); 0: never",
    )
    enabled: bool = Field(
        True,
        description="run the pipeline in this process; false: add() only stores turns, "
        "`lightmem worker` processes extract and consolidate them",
    )
    background: bool = Field(
        False, description="run segmentation and extraction in a background thread after add()"
    )
    max_llm_calls: int = Field(
        4,
        ge=1,
        le=256,
        description="extraction calls in flight at once (owners extracted concurrently)",
    )
    llm_cooldown_seconds: float = Field(
        30.0,
        gt=0.0,
        le=86_400.0,
        description="after the LLM endpoint could not be reached, no call is made for this "
        "long (the batches wait; a flush tries at once)",
    )


class ProxyOptions(_Section):
    api_key: str | None = Field(
        None, description="the upstream's API key (never saved with the store's config)"
    )


class ProxySection(_Section):
    """``lightmem proxy``: the OpenAI-compatible memory proxy in front of a model server."""

    upstream_url: str = Field(
        "", description="base URL of the OpenAI-compatible upstream, e.g. http://host:8080/v1"
    )
    api_key_env: str = Field(
        "LIGHTMEM_PROXY_API_KEY",
        description="environment variable holding the upstream key (then OPENAI_API_KEY)",
    )
    options: ProxyOptions = Field(default_factory=ProxyOptions)
    budget_tokens: int = Field(
        800, ge=50, le=200_000, description="tokens of the injected memory block, both parts"
    )
    stable_share: float = Field(
        0.5, gt=0.0, le=1.0, description="most of budget_tokens the stable part may take"
    )
    history_turns: int = Field(
        0, ge=0, description="only the last N turns of a request go upstream; 0: all of them"
    )
    query_turns: int = Field(
        3, ge=1, le=50, description="recent user turns that make the memory query"
    )
    timeout_seconds: float = Field(
        120.0, gt=0.0, description="seconds to wait for the upstream's answer (504 after)"
    )
    connect_timeout_seconds: float = Field(
        10.0, gt=0.0, description="seconds to wait for a connection to the upstream"
    )


class MemoryConfig(_Section):
    """The whole configuration of a store."""

    store: StoreSection = Field(default_factory=StoreSection)
    embedder: EmbedderSection = Field(default_factory=EmbedderSection)
    llm: LLMSection = Field(default_factory=LLMSection)
    compressor: CompressorSection = Field(default_factory=CompressorSection)
    segmenter: SegmenterSection = Field(default_factory=SegmenterSection)
    image_embedder: ImageEmbedderSection = Field(default_factory=ImageEmbedderSection)
    buffer: BufferSection = Field(default_factory=BufferSection)
    extraction: ExtractionSection = Field(default_factory=ExtractionSection)
    consolidation: ConsolidationSection = Field(default_factory=ConsolidationSection)
    summaries: SummariesSection = Field(default_factory=SummariesSection)
    retrieval: RetrievalSection = Field(default_factory=RetrievalSection)
    worker: WorkerSection = Field(default_factory=WorkerSection)
    proxy: ProxySection = Field(default_factory=ProxySection)

    @field_validator("llm", mode="before")
    @classmethod
    def _llm_shorthand(cls, v: Any) -> Any:
        return {"provider": v} if isinstance(v, str) else v

    @field_validator(
        "embedder", "store", "compressor", "segmenter", "image_embedder", mode="before"
    )
    @classmethod
    def _backend_shorthand(cls, v: Any) -> Any:
        return {"provider": v} if isinstance(v, str) else v

    @classmethod
    def load(
        cls,
        source: MemoryConfig | dict[str, Any] | str | Path | None = None,
        *,
        base: str | Path | None = None,
        env: dict[str, str] | None = None,
        **overrides: Any,
    ) -> MemoryConfig:
        """Build a config from a dict, a TOML/YAML/JSON file, env vars and keyword overrides,
        in that order over ``base`` (a store's saved config file; a whole ``MemoryConfig``
        source replaces it)."""
        if isinstance(source, MemoryConfig):
            data: dict[str, Any] = source.model_dump()
        elif isinstance(source, dict):
            data = json.loads(json.dumps(source))  # a copy, JSON-able values only
        else:
            data = read_config_file(Path(source)) if source is not None else {}
        _deep_merge(data, env_overrides(os.environ if env is None else env))
        _deep_merge(data, overrides)
        if base is not None and not isinstance(source, MemoryConfig):
            data = _laid_over(read_config_file(Path(base)), data)
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc)) from None

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


def read_config_file(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {str(path)!r} is not UTF-8 text: {exc}") from None
    suffix = path.suffix.lower()
    try:
        if suffix == ".toml":
            data: Any = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        elif suffix == ".json":
            data = json.loads(text)
        else:
            raise ConfigError(
                f"config file {str(path)!r}: unknown format {suffix!r}; use .toml, .yaml or .json"
            )
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise ConfigError(f"config file {str(path)!r} cannot be parsed: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping at the top level")
    return data


def env_overrides(environ: dict[str, str] | os._Environ[str]) -> dict[str, Any]:
    """``LIGHTMEM_LLM__PROVIDER=none`` -> ``{"llm": {"provider": "none"}}``.

    Values are parsed as JSON where they parse (numbers, booleans), else kept as strings.
    Only variables with a ``__`` separator are config; ``LIGHTMEM_HOME`` is not.
    """
    out: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX) or "__" not in key:
            continue
        path = [p.lower() for p in key[len(ENV_PREFIX) :].split("__")]
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return out


#: Sections that choose a backend: ``"name"`` is short for ``{"provider": "name"}``.
BACKEND_SECTIONS = ("llm", "embedder", "store", "compressor", "segmenter", "image_embedder")


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, str) and key in BACKEND_SECTIONS:
            value = {"provider": value}
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        elif isinstance(value, dict) and isinstance(base.get(key), str):
            base[key] = {"provider": base[key], **value}
        else:
            base[key] = value


def _laid_over(saved: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """``given`` over a store's ``saved`` config: the keys it names change. A backend section
    naming another provider replaces the saved one, whose options were the old provider's."""
    for key in BACKEND_SECTIONS:
        name, was = _provider(given.get(key)), _provider(saved.get(key))
        if name is not None and name != was:
            saved.pop(key, None)
    _deep_merge(saved, given)
    return saved


def _provider(section: Any) -> Any:
    return section.get("provider") if isinstance(section, dict) else section


def format_validation_error(exc: ValidationError, prefix: str = "") -> str:
    """One line naming each bad key (``prefix``: where the validated dict sits)."""
    lines = []
    for err in exc.errors():
        loc = ".".join([prefix, *(str(p) for p in err["loc"])] if prefix else map(str, err["loc"]))
        loc = loc or "(top level)"
        # a validator's own message reads as it was written, without pydantic's "Value error, "
        cause = err.get("ctx", {}).get("error") if err["type"] == "value_error" else None
        msg = str(cause) if cause is not None else err["msg"]
        if err["type"] == "extra_forbidden":
            lines.append(f"unknown config key {loc!r}: check its spelling")
        else:
            lines.append(f"config key {loc!r}: {msg}")
    return "invalid configuration: " + "; ".join(lines)


def parse_options(model: type[BaseModel], options: dict[str, Any], where: str) -> Any:
    """Validate a backend's ``options`` dict into its own pydantic model."""
    try:
        return model.model_validate(options)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, f"{where}.options")) from None


def lightmem_home(environ: dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(env.get("LIGHTMEM_HOME") or Path.home() / ".lightmem")
