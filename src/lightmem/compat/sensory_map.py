"""Upstream ``pre_compressor`` and ``topic_segmenter`` onto our compressor and segmenter."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from lightmem.compat.helpers import Notes, bad, mapping, only, section

_LLMLINGUA_HUB_IDS: Final = frozenset(
    {
        "microsoft/llmlingua-2-bert-base-multilingual-cased-meetingbank",
        "microsoft/llmlingua-2-xlm-roberta-large-meetingbank",
    }
)
_PREFIX = "pre_compressor.configs"


def map_compressor(up: Mapping[str, Any], notes: Notes) -> tuple[dict[str, Any], str | None]:
    """Our compressor section, and the LLMLingua-2 model path when one is used."""
    if not up.get("pre_compress"):
        return {"provider": "none"}, None
    pc = section(up, "pre_compressor") or {}
    name = pc.get("model_name", "llmlingua-2")
    configs = mapping(pc.get("configs"), _PREFIX)
    if name == "llmlingua-2":
        options = _llmlingua(configs, notes)
        return {"provider": "llmlingua", "options": options}, str(options["model_path"])
    if name == "entropy_compress":
        return {"provider": "entropy", "options": _entropy(configs, notes)}, None
    return {"provider": name, "options": dict(configs)}, None  # one of ours


def _llmlingua(configs: Mapping[str, Any], notes: Notes) -> dict[str, Any]:
    only(configs, _PREFIX, ("llmlingua_config", "llmlingua2_config", "compress_config"))
    lingua = mapping(configs.get("llmlingua_config"), f"{_PREFIX}.llmlingua_config")
    model = lingua.get("model_name")
    if model is None or (model in _LLMLINGUA_HUB_IDS and not Path(model).exists()):
        raise bad(
            f"{_PREFIX}.llmlingua_config.model_name",
            "LightMem does not download models: download an LLMLingua-2 model (e.g. "
            "microsoft/llmlingua-2-bert-base-multilingual-cased-meetingbank) and give the "
            "path of its folder",
        )
    options: dict[str, Any] = {"model_path": str(model)}
    for key, value in lingua.items():
        where = f"{_PREFIX}.llmlingua_config.{key}"
        if key == "use_llmlingua2":
            if value is not True:
                raise bad(where, "only LLMLingua-2 is supported; set it true")
        elif key in ("device_map", "model_config"):
            notes.note_device(where, value)
        elif key != "model_name":
            raise bad(where, "is not an llmlingua_config setting")
    batch = mapping(configs.get("llmlingua2_config"), f"{_PREFIX}.llmlingua2_config")
    for key, value in batch.items():
        if key == "max_batch_size":
            options["batch_size"] = value
        else:
            notes.note(f"{_PREFIX}.llmlingua2_config.{key}", value)
    compress = mapping(configs.get("compress_config"), f"{_PREFIX}.compress_config")
    for key, value in compress.items():
        if key == "rate":
            options["rate"] = value
        elif not (key == "target_token" and value == -1):
            notes.note(f"{_PREFIX}.compress_config.{key}", value)
    return options


def _entropy(configs: Mapping[str, Any], notes: Notes) -> dict[str, Any]:
    only(configs, _PREFIX, ("entropy_config",))
    entropy = mapping(configs.get("entropy_config"), f"{_PREFIX}.entropy_config")
    options: dict[str, Any] = {}
    for key, value in entropy.items():
        where = f"{_PREFIX}.entropy_config.{key}"
        if key == "compress_rate":
            options["rate"] = value
        elif key == "max_length":
            options["n_ctx"] = value
        elif key == "model_name":
            if str(value).lower().endswith(".gguf"):
                options["model_path"] = value
            else:
                notes.note(where, value)  # a transformers LM; ours reads GGUF
        elif key == "word_level_strategy":
            if value == "average":
                options["aggregate"] = "mean"
            else:
                notes.note(where, value)
        elif key == "device":
            notes.note_device(where, value)
        else:
            raise bad(where, "is not an entropy_config setting")
    return options


def map_segmenter(
    up: Mapping[str, Any], notes: Notes, compressor_model: str | None
) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """Our segmenter section (None: our default) and buffer section (None: unchanged)."""
    if not up.get("topic_segment"):
        if "topic_segment" in up:
            notes.keys.append("topic_segment")  # upstream then extracts nothing; we segment
        return None, None
    ts = section(up, "topic_segmenter") or {}
    name = ts.get("model_name", "llmlingua-2")
    configs = mapping(ts.get("configs"), "topic_segmenter.configs")
    if name != "llmlingua-2":
        return {"provider": name, "options": dict(configs)}, None  # one of ours
    attention: dict[str, Any] = {}
    buffer: dict[str, Any] | None = None
    if up.get("precomp_topic_shared") and compressor_model is not None:
        attention["model_path"] = compressor_model  # the compressor's encoder, as upstream
    for key, value in configs.items():
        where = f"topic_segmenter.configs.{key}"
        if key == "model_name":
            attention["model_path"] = value
        elif key == "layers":
            attention["layers"] = value
        elif key == "buffer_len":
            buffer = {"sensory_tokens": value}
        elif key in ("device_map", "torch_dtype", "model_config"):
            notes.note_device(where, value)
        else:
            raise bad(where, "is not an llmlingua-2 topic_segmenter setting")
    # Upstream's rule: attention peaks (each turn onto the one before) propose coarse
    # boundaries, embedding similarity of consecutive turns refines.
    attention.update(score="pair", mode="peak", z=0.5, min_turns=2)
    options: dict[str, Any] = {
        "rule": "intersection",
        "attention": attention,
        "similarity": {"window": 1, "lexical": False, "z": 0.5, "min_turns": 2},
    }
    return {"provider": "combined", "options": options}, buffer
