"""The optimized-graph cache: written once, loaded ready, never in the way; and the
dynamically quantized MiniLM it makes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lightmem import ConfigError, Memory
from lightmem.embedders import graphcache
from lightmem.embedders.minilm import MiniLMEmbedder, MiniLMOptions
from lightmem.errors import MissingDependencyError, ProviderError


class Maker:
    """A session maker that writes the "optimized graph" as onnxruntime would, and records
    each call; ``fail_on`` makes loading that file fail."""

    def __init__(self, fail_on: Path | None = None) -> None:
        self.calls: list[tuple[Path, Path | None, bool]] = []
        self.fail_on = fail_on

    def __call__(self, path: Path, optimized: Path | None, optimize: bool) -> Any:
        self.calls.append((path, optimized, optimize))
        if path == self.fail_on:
            raise RuntimeError("InvalidProtobuf")
        if optimized is not None:
            optimized.write_bytes(b"optimized:" + path.read_bytes())
        return ("session", path)


@pytest.fixture
def model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("LIGHTMEM_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "model.onnx"
    path.write_bytes(b"int8 weights")
    return path


def test_cache_dir_precedence() -> None:
    assert graphcache.cache_dir({"LIGHTMEM_CACHE": "/c", "XDG_CACHE_HOME": "/x"}) == Path("/c")
    assert graphcache.cache_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/lightmem")
    assert graphcache.cache_dir({}) == Path.home() / ".cache" / "lightmem"


def test_written_once_then_loaded_without_optimizing(model: Path) -> None:
    make = Maker()
    first = graphcache.session(model, "basic", "1.0", make)
    target = graphcache.graph_path(model, "basic", "1.0")
    assert first == ("session", model)
    assert target.read_bytes() == b"optimized:int8 weights"
    assert make.calls[0][0] == model and make.calls[0][2] is True
    assert make.calls[0][1] is not None and make.calls[0][1].parent == target.parent
    assert graphcache.session(model, "basic", "1.0", make) == ("session", target)
    assert make.calls[1] == (target, None, False)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no partial left


def test_a_changed_model_or_runtime_gets_its_own_graph(model: Path) -> None:
    before = graphcache.graph_path(model, "basic", "1.0")
    assert graphcache.graph_path(model, "basic", "1.1") != before
    model.write_bytes(b"other int8 weights")
    os.utime(model, ns=(1, 1))
    assert graphcache.graph_path(model, "basic", "1.0") != before


def test_a_bad_cached_graph_is_made_again(model: Path) -> None:
    target = graphcache.graph_path(model, "basic", "1.0")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"truncated")
    make = Maker(fail_on=target)
    assert graphcache.session(model, "basic", "1.0", make) == ("session", model)
    assert target.read_bytes() == b"optimized:int8 weights"


def test_an_unwritable_cache_costs_only_the_saving(
    model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would be")
    monkeypatch.setenv("LIGHTMEM_CACHE", str(blocker))
    make = Maker()
    assert graphcache.session(model, "basic", "1.0", make) == ("session", model)
    assert make.calls == [(model, None, True)]


class CannotWrite(Maker):
    """onnxruntime failing to write the optimized graph (a read-only cache directory)."""

    def __call__(self, path: Path, optimized: Path | None, optimize: bool) -> Any:
        if optimized is not None:
            self.calls.append((path, optimized, optimize))
            raise RuntimeError("cannot open file for writing")
        return super().__call__(path, optimized, optimize)


def test_a_graph_that_cannot_be_written_leaves_the_session_as_before(model: Path) -> None:
    make = CannotWrite()
    assert graphcache.session(model, "basic", "1.0", make) == ("session", model)
    assert make.calls[-1] == (model, None, True)
    assert not list(graphcache.graph_path(model, "basic", "1.0").parent.iterdir())


def test_minilm_vectors_are_the_same_from_the_cached_graph(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIGHTMEM_CACHE", str(tmp_path / "cache"))
    texts = ["I moved to Lisbon in May.", "What a cute cat!", "My dog is called Biscuit."]
    plain = MiniLMEmbedder(MiniLMOptions(cache_graph=False)).embed(texts)
    assert not (tmp_path / "cache").exists()
    writing, reading = MiniLMEmbedder(), MiniLMEmbedder()
    assert np.array_equal(writing.embed(texts), plain)
    graphs = list((tmp_path / "cache" / "graphs").iterdir())
    assert len(graphs) == 1 and graphs[0].suffix == ".onnx"
    written = graphs[0].stat()
    assert np.array_equal(reading.embed(texts), plain)
    again = graphs[0].stat()  # loaded from the file written, not written again
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


TEXTS = ["I moved to Lisbon in May.", "What a cute cat!", "My dog is called Biscuit.", "ok"]


def test_dynamic_quantization_is_made_once_and_stays_close(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIGHTMEM_CACHE", str(tmp_path / "cache"))
    weights = MiniLMEmbedder()
    dynamic = MiniLMEmbedder(MiniLMOptions(quantization="dynamic"))
    assert weights.model_id == "all-MiniLM-L6-v2-int8-onnx"
    assert dynamic.model_id == "all-MiniLM-L6-v2-int8-dynamic-onnx"  # a store tells them apart
    exact, quick = weights.embed(TEXTS), dynamic.embed(TEXTS)
    assert not np.array_equal(exact, quick)
    cosines = (exact * quick).sum(axis=1)
    # on a CPU without VNNI (AVX2 only) onnxruntime's u8s8 kernels saturate: "ok", three
    # tokens, lands at 0.958 there (0.97+ with VNNI); the sentences stay above 0.98
    assert cosines.min() > 0.95 and cosines.mean() > 0.975
    made = [p for p in (tmp_path / "cache" / "graphs").iterdir() if "-dynamic-" in p.name]
    assert made and not [p for p in made[0].parent.iterdir() if p.name.startswith(".")]
    first = {p.name: p.stat().st_ino for p in made}
    again = MiniLMEmbedder(MiniLMOptions(quantization="dynamic"))
    assert np.array_equal(again.embed(TEXTS), quick)
    assert {p.name: p.stat().st_ino for p in made} == first  # read, not made again


def test_dynamic_quantization_without_onnx_names_the_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIGHTMEM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(sys.modules, "onnxruntime.quantization", None)
    with pytest.raises(MissingDependencyError, match=r"'onnx'.*pip install 'lightmem\[quantize\]'"):
        MiniLMEmbedder(MiniLMOptions(quantization="dynamic")).embed(TEXTS)


def test_dynamic_quantization_with_an_unwritable_cache_says_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory would be")
    monkeypatch.setenv("LIGHTMEM_CACHE", str(blocker))
    with pytest.raises(ProviderError, match="LIGHTMEM_CACHE") as caught:
        MiniLMEmbedder(MiniLMOptions(quantization="dynamic")).embed(TEXTS)
    assert 'quantization = "weights"' in str(caught.value)
    assert MiniLMEmbedder().embed(TEXTS).shape == (4, 384)  # the weights model still runs


def test_a_store_keeps_the_quantization_it_was_built_with(tmp_path: Path) -> None:
    built = {"llm": "none", "embedder": {"provider": "minilm"}}
    with Memory(tmp_path / "store", config=built) as mem:
        mem.add([{"role": "user", "content": "I moved to Lisbon in May."}], user_id="u")
    other = {
        "llm": "none",
        "embedder": {"provider": "minilm", "options": {"quantization": "dynamic"}},
    }
    with pytest.raises(ConfigError, match="int8-dynamic"):
        Memory(tmp_path / "store", config=other)
