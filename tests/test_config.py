import json
from pathlib import Path

import pytest

from lightmem.config import MemoryConfig
from lightmem.errors import ConfigError


def test_defaults() -> None:
    cfg = MemoryConfig.load(env={})
    assert cfg.buffer.sensory_tokens == 512
    assert cfg.buffer.shortterm_tokens == 2048
    assert cfg.llm.provider == "auto"
    assert cfg.consolidation.threshold == 0.8


def test_misspelled_key_is_named() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'buffer\.sensory_tokenz'"):
        MemoryConfig.load({"buffer": {"sensory_tokenz": 3}}, env={})
    with pytest.raises(ConfigError, match="'retreival'"):
        MemoryConfig.load({"retreival": {}}, env={})


def test_wrong_value_is_named() -> None:
    with pytest.raises(ConfigError, match=r"buffer\.shortterm_tokens"):
        MemoryConfig.load({"buffer": {"shortterm_tokens": -1}}, env={})


def test_files_env_and_overrides(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text('llm = "none"\n[embedder]\nprovider = "hash"\noptions = { dim = 32 }\n')
    cfg = MemoryConfig.load(toml, env={"LIGHTMEM_BUFFER__SHORTTERM_TOKENS": "0"})
    assert cfg.llm.provider == "none"
    assert cfg.embedder.options == {"dim": 32}
    assert cfg.buffer.shortterm_tokens == 0
    yml = tmp_path / "c.yaml"
    yml.write_text("retrieval:\n  mode: bm25\n")
    assert MemoryConfig.load(yml, env={}, llm="scripted").llm.provider == "scripted"
    assert MemoryConfig.load(yml, env={}).retrieval.mode == "bm25"


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        MemoryConfig.load(tmp_path / "nope.toml", env={})
    bad = tmp_path / "bad.toml"
    bad.write_bytes(b"\xff\xfe = 1")
    with pytest.raises(ConfigError, match="not UTF-8"):
        MemoryConfig.load(bad, env={})
    other = tmp_path / "c.ini"
    other.write_text("x")
    with pytest.raises(ConfigError, match="unknown format"):
        MemoryConfig.load(other, env={})


def test_a_config_is_laid_over_the_saved_one(tmp_path: Path) -> None:
    saved = tmp_path / "config.json"
    saved.write_text(
        json.dumps(
            {
                "llm": {
                    "provider": "openai",
                    "options": {"model": "m1", "base_url": "http://h/v1"},
                },
                "embedder": {"provider": "hash", "options": {"dim": 32}},
                "retrieval": {"mode": "bm25"},
                "proxy": {"budget_tokens": 500},
            }
        )
    )
    partial = tmp_path / "proxy.toml"
    partial.write_text("[proxy]\nhistory_turns = 4\n")
    cfg = MemoryConfig.load(partial, base=saved, env={})
    assert (cfg.proxy.history_turns, cfg.proxy.budget_tokens) == (4, 500)
    assert cfg.retrieval.mode == "bm25" and cfg.embedder.options == {"dim": 32}
    assert cfg.llm.provider == "openai" and cfg.llm.options["model"] == "m1"
    # the same provider: its options merge; another one: the saved options do not carry over
    same = MemoryConfig.load({"llm": {"options": {"model": "m2"}}}, base=saved, env={})
    assert same.llm.options == {"model": "m2", "base_url": "http://h/v1"}
    for other in (
        MemoryConfig.load(base=saved, env={}, llm="scripted"),
        MemoryConfig.load(base=saved, env={"LIGHTMEM_LLM__PROVIDER": "scripted"}),
        MemoryConfig.load({"llm": {"provider": "scripted"}}, base=saved, env={}),
    ):
        assert other.llm.provider == "scripted" and other.llm.options == {}
        assert other.retrieval.mode == "bm25"
    # a whole MemoryConfig is what it says
    assert MemoryConfig.load(MemoryConfig(), base=saved, env={}).retrieval.mode != "bm25"
