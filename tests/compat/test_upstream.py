"""The upstream zjunlp/LightMem API through lightmem.compat: README quick start, mapping, errors."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightmem.compat import LightMemory, UpstreamCompatWarning, map_config
from lightmem.compat.config_map import TOP_LEVEL_KEYS
from lightmem.config import MemoryConfig, parse_options
from lightmem.errors import ConfigError, InputError, LightMemError
from lightmem.llm.scripted import ScriptedLLM
from lightmem.sensory.compressors.llmlingua import LLMLinguaOptions
from lightmem.sensory.segmenters.combined import CombinedOptions

DOC = Path(__file__).resolve().parents[2] / "docs" / "compat.md"
#: What the tests run on instead of the models the README points at.
FAST: dict[str, Any] = {
    "llm": "scripted",
    "embedder": {"provider": "hash", "options": {"dim": 64}},
    "compressor": "none",
    "segmenter": "similarity",
}


def readme_config(tmp_path: Path) -> dict[str, Any]:
    """The upstream README's ``config_dict``, as published (placeholders filled in)."""
    llmlingua_path = tmp_path / "models" / "llmlingua-2-bert-base-multilingual-cased-meetingbank"
    return {
        "pre_compress": True,
        "pre_compressor": {
            "model_name": "llmlingua-2",
            "configs": {
                "llmlingua_config": {
                    "model_name": str(llmlingua_path),
                    "device_map": "cuda",
                    "use_llmlingua2": True,
                },
            },
        },
        "topic_segment": True,
        "precomp_topic_shared": True,
        "topic_segmenter": {
            "model_name": "llmlingua-2",
        },
        "messages_use": "user_only",
        "metadata_generate": True,
        "text_summary": True,
        "memory_manager": {
            "model_name": "openai",
            "configs": {
                "model": "gpt-4o-mini",
                "api_key": "sk-test",
                "max_tokens": 16000,
                "openai_base_url": "http://127.0.0.1:9/v1",
            },
        },
        "extract_threshold": 0.1,
        "index_strategy": "embedding",
        "text_embedder": {
            "model_name": "huggingface",
            "configs": {
                "model": str(tmp_path / "models" / "all-MiniLM-L6-v2"),
                "embedding_dims": 384,
                "model_kwargs": {"device": "cuda"},
            },
        },
        "retrieve_strategy": "embedding",
        "embedding_retriever": {
            "model_name": "qdrant",
            "configs": {
                "collection_name": "my_long_term_chat",
                "embedding_model_dims": 384,
                "path": str(tmp_path / "my_long_term_chat"),
            },
        },
        "summary_retriever": {
            "model_name": "qdrant",
            "configs": {
                "collection_name": "my_chat_summaries",
                "embedding_model_dims": 384,
                "path": str(tmp_path / "my_chat_summaries"),
            },
        },
        "update": "offline",
        "logging": {"level": "DEBUG", "file_enabled": True, "log_dir": str(tmp_path / "logs")},
    }


def session(timestamp: str, user: str, assistant: str) -> list[dict[str, str]]:
    return [
        {"role": "user", "content": user, "time_stamp": timestamp},
        {"role": "assistant", "content": assistant, "time_stamp": timestamp},
    ]


@pytest.fixture
def quickstart(tmp_path: Path) -> Iterator[LightMemory]:
    with pytest.warns(UpstreamCompatWarning) as caught:
        lm = LightMemory.from_config(readme_config(tmp_path), overrides=FAST)
    message = str(caught[0].message)
    for key in (
        "messages_use",
        "logging",
        "summary_retriever",
        "memory_manager.configs.max_tokens",
    ):
        assert key in message
    with lm:
        yield lm


def scripted(lm: LightMemory) -> ScriptedLLM:
    assert isinstance(lm.memory.llm, ScriptedLLM)
    return lm.memory.llm


# -- the README quick start, end to end -------------------------------------------------------
def test_readme_quickstart(quickstart: LightMemory, tmp_path: Path) -> None:
    lm = quickstart
    assert lm.memory.path == tmp_path / "my_long_term_chat" / "my_long_term_chat"
    llm = scripted(lm)
    llm.enqueue(
        {
            "memories": [
                {"text": "The user's favorite ice cream flavor is pistachio.", "sources": [1]},
                {"text": "The user's dog is named Rex.", "sources": [1]},
            ]
        }
    )
    result = lm.add_memory(
        messages=session(
            "2025-01-10",
            "My favorite ice cream flavor is pistachio, and my dog's name is Rex.",
            "Got it. Pistachio is a great choice.",
        ),
        force_segment=True,
        force_extract=True,
    )
    assert result["add_input_prompt"] == [] and result["add_output_prompt"] == []
    assert result["api_call_nums"] == 1
    assert result["entries_created"] == 2 and result["failed_batches"] == []
    assert len(result["turn_ids"]) == 2

    llm.enqueue(
        {"memories": [{"text": "The user's dog Rex is now named Rex Junior.", "sources": [1]}]}
    )
    lm.add_memory(
        session("2025/02/01 (Sat) 10:30", "My dog Rex is now called Rex Junior.", "Cute!"),
        force_segment=True,
        force_extract=True,
    )

    assert lm.construct_update_queue_all_entries() == 3
    llm.enqueue(
        {"action": "update", "text": "The user's dog is named Rex Junior.", "reason": "renamed"}
    )
    update = lm.offline_update_all_entries(score_threshold=0.8)
    assert update.updated == 1 and not update.failed
    assert lm.construct_update_queue_all_entries() == 0
    assert llm.pending == 0

    related = lm.retrieve("What is the name of my dog?", limit=5)
    lines = related.splitlines()
    assert len(lines) == 3
    assert "2025-01-10T00:00:00.000 Fri The user's dog is named Rex Junior." in lines
    assert "2025-02-01T10:30:00.000 Sat The user's dog Rex is now named Rex Junior." in lines
    hits = lm.retrieve_hits("pistachio ice cream", limit=1)
    assert hits[0].text == "The user's favorite ice cream flavor is pistachio."
    assert hits[0].sources[0].content.startswith("My favorite ice cream")


def test_without_force_nothing_is_extracted_until_forced(quickstart: LightMemory) -> None:
    lm = quickstart
    result = lm.add_memory(session("2025-01-10", "I live in Porto.", "Nice city."))
    assert result["api_call_nums"] == 0 and result["entries_created"] == 0
    scripted(lm).enqueue({"memories": [{"text": "The user lives in Porto.", "sources": [1]}]})
    # force_segment alone cuts the buffer; the short-term threshold is not reached yet
    assert (
        lm.add_memory(session("2025-01-10", "Bye.", "Bye!"), force_segment=True)["api_call_nums"]
        == 0
    )
    forced = lm.add_memory(session("2025-01-11", "Hello.", "Hi."), force_extract=True)
    assert forced["api_call_nums"] == 1 and forced["entries_created"] == 1
    assert "The user lives in Porto." in lm.retrieve("Where does the user live?")


def test_failed_extraction_is_reported_not_lost(quickstart: LightMemory) -> None:
    lm = quickstart
    scripted(lm).enqueue("not json", "still not json", "nope")
    result = lm.add_memory(
        session("2025-01-10", "I live in Porto.", "Nice."), force_segment=True, force_extract=True
    )
    assert result["entries_created"] == 0 and len(result["failed_batches"]) == 1
    assert lm.memory.turns(user_id="default")[0].content == "I live in Porto."


# -- our own backends by name, online update, user scope ---------------------------------------
def test_own_provider_names_and_online_update(tmp_path: Path) -> None:
    config = {
        "memory_manager": {"model_name": "scripted"},
        "text_embedder": {"model_name": "hash", "configs": {"dim": 64}},
        "update": "online",
        "retrieve_strategy": "hybrid",
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lm = LightMemory.from_config(config, path=tmp_path / "store", user_id="maya")
    with lm:
        assert lm.memory.config.retrieval.mode == "hybrid"
        llm = scripted(lm)
        llm.enqueue({"memories": [{"text": "Maya lives in Porto.", "sources": [1]}]})
        lm.add_memory(
            {"role": "user", "content": "I live in Porto.", "time_stamp": "2024-01-01"},
            force_segment=True,
            force_extract=True,
        )
        llm.enqueue(
            {"memories": [{"text": "Maya lives in Porto since 2024.", "sources": [1]}]},
            {"action": "delete", "reason": "superseded"},
        )
        second = lm.add_memory(
            {"role": "user", "content": "Porto since 2024.", "time_stamp": "2024-02-01"},
            force_segment=True,
            force_extract=True,
        )
        assert llm.pending == 0  # online: consolidation ran inside add_memory
        assert second["consolidation_failed"] == []
        assert [e.text for e in lm.memory.get_all(user_id="maya")] == [
            "Maya lives in Porto since 2024."
        ]


def test_speaker_name_and_derived_fields(tmp_path: Path) -> None:
    config = {"memory_manager": {"model_name": "none"}, "text_embedder": {"model_name": "hash"}}
    with LightMemory.from_config(config, path=tmp_path / "s") as lm:
        lm.add_memory(
            [
                {
                    "role": "user",
                    "content": "Hi Jonas",
                    "time_stamp": "2024-01-01",
                    "speaker_name": "Maya",
                    "speaker_id": 0,
                    "weekday": "Mon",
                    "session_time": "2024-01-01",
                }
            ],
            force_segment=True,
            force_extract=True,
        )
        (turn,) = lm.memory.turns(user_id="default")
        assert turn.speaker == "Maya"
        with pytest.raises(InputError, match="time_stamp"):
            lm.add_memory({"role": "user", "content": "x", "time_stamp": "2024", "timestamp": 1})
        with pytest.raises(InputError, match="METADATA_GENERATE_PROMPT"):
            lm.add_memory({"role": "user", "content": "x"}, "my prompt")
        with pytest.raises(InputError, match="time_range"):
            lm.retrieve("x", filters={"float_time_stamp": {"lte": 1.0}})
        with pytest.raises(LightMemError, match="summarize"):
            lm.summarize()


# -- the mapping --------------------------------------------------------------------------------
def test_readme_config_maps_onto_our_config(tmp_path: Path) -> None:
    mapped = map_config(readme_config(tmp_path))
    cfg = mapped.config
    llmlingua = str(tmp_path / "models" / "llmlingua-2-bert-base-multilingual-cased-meetingbank")
    assert cfg["llm"] == {
        "provider": "openai",
        "options": {
            "model": "gpt-4o-mini",
            "api_key": "sk-test",
            "base_url": "http://127.0.0.1:9/v1",
        },
    }
    assert cfg["embedder"] == {"provider": "minilm"}
    assert cfg["compressor"] == {"provider": "llmlingua", "options": {"model_path": llmlingua}}
    # precomp_topic_shared: the segmenter reads the compressor's encoder, as upstream does
    assert cfg["segmenter"]["provider"] == "combined"
    # upstream's rule on upstream's signal: attention peaks of each turn onto the one before
    paper = {"score": "pair", "mode": "peak", "z": 0.5, "min_turns": 2}
    assert cfg["segmenter"]["options"]["attention"] == {"model_path": llmlingua, **paper}
    assert cfg["retrieval"] == {"mode": "dense"}
    assert mapped.update == "offline"
    assert mapped.store_path == tmp_path / "my_long_term_chat" / "my_long_term_chat"
    assert set(mapped.no_effect) == {
        "memory_manager.configs.max_tokens",
        "text_embedder.configs.model_kwargs",
        "pre_compressor.configs.llmlingua_config.device_map",
        "messages_use",
        "logging",
        "summary_retriever",
    }
    # the result is a valid config, and the options fit the backends they are meant for
    MemoryConfig.load(cfg)
    parse_options(LLMLinguaOptions, cfg["compressor"]["options"], "compressor")
    parse_options(CombinedOptions, cfg["segmenter"]["options"], "segmenter")


def test_compressor_and_segmenter_settings() -> None:
    mapped = map_config(
        {
            "pre_compress": True,
            "pre_compressor": {
                "model_name": "llmlingua-2",
                "configs": {
                    "llmlingua_config": {"model_name": "/m/lingua", "device_map": "cpu"},
                    "llmlingua2_config": {"max_batch_size": 8},
                    "compress_config": {"rate": 0.6, "target_token": -1, "instruction": ""},
                },
            },
            "topic_segment": True,
            "topic_segmenter": {
                "model_name": "llmlingua-2",
                "configs": {"model_name": "/m/bert", "layers": [8, 9], "buffer_len": 256},
            },
        }
    )
    cfg = mapped.config
    assert cfg["compressor"]["options"] == {"model_path": "/m/lingua", "batch_size": 8, "rate": 0.6}
    paper = {"score": "pair", "mode": "peak", "z": 0.5, "min_turns": 2}
    assert cfg["segmenter"]["options"]["attention"] == {
        "model_path": "/m/bert",
        "layers": [8, 9],
        **paper,
    }
    assert cfg["buffer"] == {"sensory_tokens": 256}
    assert mapped.no_effect == []  # cpu, -1 and "" ask for nothing LightMem does not do
    entropy = map_config(
        {
            "pre_compress": True,
            "pre_compressor": {
                "model_name": "entropy_compress",
                "configs": {
                    "entropy_config": {
                        "model_name": "/m/smol.gguf",
                        "compress_rate": 0.5,
                        "word_level_strategy": "average",
                    }
                },
            },
        }
    )
    assert entropy.config["compressor"] == {
        "provider": "entropy",
        "options": {"model_path": "/m/smol.gguf", "rate": 0.5, "aggregate": "mean"},
    }


@pytest.mark.parametrize(
    ("manager", "options"),
    [
        (
            {"model_name": "deepseek", "configs": {"api_key": "k"}},
            {"model": "deepseek-chat", "api_key": "k", "base_url": "https://api.deepseek.com/v1"},
        ),
        (
            {
                "model_name": "ollama",
                "configs": {"model": "qwen3", "ollama_base_url": "http://h:11434/"},
            },
            {"model": "qwen3", "base_url": "http://h:11434/v1"},
        ),
        (
            {
                "model_name": "vllm",
                "configs": {"model": "q", "vllm_base_url": "http://h:8000/v1", "temperature": 0.2},
            },
            {"model": "q", "base_url": "http://h:8000/v1", "temperature": 0.2},
        ),
    ],
)
def test_openai_compatible_managers(manager: dict[str, Any], options: dict[str, Any]) -> None:
    assert map_config({"memory_manager": manager}).config["llm"] == {
        "provider": "openai",
        "options": options,
    }


def test_no_summary_means_no_llm_and_defaults() -> None:
    assert map_config({"text_summary": False}).config["llm"] == {"provider": "none"}
    defaults = map_config({})
    assert defaults.config["llm"] == {"provider": "auto"}
    assert defaults.config["retrieval"] == {"mode": "dense"}  # upstream's default: embedding
    assert defaults.store_path is None and defaults.no_effect == []


def test_overrides_replace_backends_and_merge_the_rest(tmp_path: Path) -> None:
    config = {
        "memory_manager": {"model_name": "openai", "configs": {"api_key": "k"}},
        "text_embedder": {"model_name": "hash"},
    }
    overrides = {"llm": "none", "retrieval": {"limit": 3}}
    with LightMemory.from_config(config, path=tmp_path / "o", overrides=overrides) as lm:
        assert lm.memory.config.llm.provider == "none" and lm.memory.config.llm.options == {}
        assert lm.memory.config.retrieval.mode == "dense"
        assert lm.memory.config.retrieval.limit == 3


@pytest.mark.parametrize(
    ("config", "key"),
    [
        ({"grpah_mem": True}, "grpah_mem"),
        ({"graph_mem": True}, "graph_mem"),
        ({"extraction_mode": "graph"}, "extraction_mode"),
        ({"multimodal_embedder": {"model_name": "huggingface"}}, "multimodal_embedder"),
        ({"memory_manager": {"model_name": "transformers"}}, "memory_manager.model_name"),
        (
            {"memory_manager": {"model_name": "openai", "configs": {"api_kye": "k"}}},
            "memory_manager.configs.api_kye",
        ),
        ({"memory_manager": {"model": "gpt"}}, "memory_manager.model"),
        (
            {"text_embedder": {"model_name": "huggingface", "configs": {"model": "BAAI/bge-m3"}}},
            "text_embedder.configs.model",
        ),
        (
            {"embedding_retriever": {"model_name": "qdrant", "configs": {"host": "h", "port": 1}}},
            "embedding_retriever.configs.host",
        ),
        ({"embedding_retriever": {"model_name": "chroma"}}, "embedding_retriever.model_name"),
        (
            {"pre_compress": True, "pre_compressor": {"model_name": "llmlingua-2"}},
            "pre_compressor.configs.llmlingua_config.model_name",
        ),
        ({"retrieve_strategy": "graph"}, "retrieve_strategy"),
        ({"update": "nightly"}, "update"),
    ],
)
def test_unsupported_keys_name_the_key(config: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(repr(key))):
        map_config(config)


def test_every_upstream_key_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(k for k in TOP_LEVEL_KEYS if f"`{k}`" not in text)
    assert not missing, f"docs/compat.md does not document {missing}"


# -- what a first-time user of the upstream quick start hit ------------------------------------
def test_a_missing_model_folder_names_the_upstream_key(tmp_path: Path) -> None:
    overrides = {k: v for k, v in FAST.items() if k != "compressor"}
    with (
        pytest.warns(UpstreamCompatWarning),
        pytest.raises(ConfigError, match=r"pre_compressor\.configs\.llmlingua_config\.model_name"),
    ):
        LightMemory.from_config(readme_config(tmp_path), overrides=overrides)


def plain(tmp_path: Path) -> LightMemory:
    """The README's config without pre-compression and topic segmentation (fast fakes)."""
    config = readme_config(tmp_path)
    config["pre_compress"] = False
    config["topic_segment"] = False
    with pytest.warns(UpstreamCompatWarning):
        return LightMemory.from_config(config, overrides=FAST)


def test_force_extract_alone_extracts_and_a_rerun_does_not_duplicate(tmp_path: Path) -> None:
    lm = plain(tmp_path)
    with lm:
        llm = scripted(lm)
        llm.enqueue({"memories": [{"text": "The user has a dog named Rex.", "sources": [1]}]})
        first = lm.add_memory(
            session("2025/01/10 (Fri) 09:00", "My dog is called Rex.", "Nice!"),
            force_extract=True,
        )
        assert first["entries_created"] == 1 and len(first["turn_ids"]) == 2
        assert "Rex" in lm.retrieve("What is my dog called?")
        again = lm.add_memory(
            session("2025/01/10 (Fri) 09:00", "My dog is called Rex.", "Nice!"),
            force_extract=True,
        )
        assert again["turn_ids"] == [] and again["entries_created"] == 0
        assert len(lm.memory.turns(user_id=lm.user_id)) == 2
        assert llm.pending == 0


def test_a_short_reply_repeated_by_a_later_call_is_stored(tmp_path: Path) -> None:
    """Upstream scripts send one turn pair per call with the session's time: a later "OK"
    is the same time, role and text as an earlier one, and must be stored; only a call
    that repeats, in order, turns already stored is a rerun."""
    lm = plain(tmp_path)
    with lm:
        ts = "2023/05/08 (Mon) 13:56"
        lm.add_memory(session(ts, "Is the meeting moved?", "OK"))
        second = lm.add_memory(session(ts, "And lunch too?", "OK"))
        assert len(second["turn_ids"]) == 2
        third = lm.add_memory([{"role": "assistant", "content": "OK", "time_stamp": ts}])
        assert third["turn_ids"] == []  # the same one message as a stored turn: a rerun
        assert lm.add_memory(session(ts, "And lunch too?", "OK"))["turn_ids"] == []
        contents = [t.content for t in lm.memory.turns(user_id=lm.user_id)]
        assert contents == ["Is the meeting moved?", "OK", "And lunch too?", "OK"]


def test_extraction_mode_event_maps_to_structmem_events() -> None:
    assert map_config({"extraction_mode": "event"}).config["extraction"] == {"mode": "event"}
    assert "extraction" not in map_config({"extraction_mode": "flat"}).config
