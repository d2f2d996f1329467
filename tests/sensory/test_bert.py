"""The numpy BERT forward pass: safetensors I/O, and agreement with the ONNX MiniLM."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lightmem.errors import ProviderError
from lightmem.models.bert import load_bert, read_safetensors
from tests.sensory.tiny_bert import make_classifier, write_safetensors


def test_safetensors_round_trip_and_bf16(tmp_path: Path) -> None:
    tensors: dict[str, np.ndarray] = {
        "a": np.arange(6, dtype=np.float32).reshape(2, 3),
        "b": np.array([7], np.int64),
    }
    write_safetensors(tmp_path / "t.safetensors", tensors)
    back = read_safetensors(tmp_path / "t.safetensors")
    assert back["a"].tolist() == tensors["a"].tolist() and back["b"].tolist() == [7]
    # a hand-made BF16 tensor: the upper 16 bits of float32 1.5 and -2.0
    bits = (np.array([1.5, -2.0], np.float32).view(np.uint32) >> 16).astype("<u2").tobytes()
    header = json.dumps({"x": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}).encode()
    (tmp_path / "b.safetensors").write_bytes(np.uint64(len(header)).tobytes() + header + bits)
    assert read_safetensors(tmp_path / "b.safetensors")["x"].tolist() == [1.5, -2.0]


def test_not_a_safetensors_file(tmp_path: Path) -> None:
    (tmp_path / "x").write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00{oops")
    with pytest.raises(ProviderError, match="not a safetensors file"):
        read_safetensors(tmp_path / "x")


def test_padding_does_not_change_real_tokens(tmp_path: Path) -> None:
    model = load_bert(make_classifier(tmp_path / "m"), what="t", option="o", install="i")
    ids = np.array([[2, 10, 11, 3]], dtype=np.int64)
    alone = model.encoder.forward(ids).hidden
    padded_ids = np.array([[2, 10, 11, 3, 0, 0]], dtype=np.int64)
    mask = np.array([[1, 1, 1, 1, 0, 0]], dtype=np.int64)
    padded = model.encoder.forward(padded_ids, mask, attention_layers=frozenset({1})).hidden
    assert np.allclose(alone[0], padded[0, :4], atol=1e-5)


def test_attention_maps_stop_early_and_match_the_full_pass(tmp_path: Path) -> None:
    model = load_bert(make_classifier(tmp_path / "m"), what="t", option="o", install="i")
    ids = np.array([[2, 10, 11, 12, 3]], dtype=np.int64)
    full = model.encoder.forward(ids, attention_layers=frozenset({0, 1})).attentions
    maps = model.encoder.attention_maps(ids, frozenset({0, 1}))
    assert sorted(maps) == [0, 1]
    assert all(np.allclose(maps[i], full[i], atol=1e-6) for i in (0, 1))
    assert np.allclose(maps[1].sum(axis=-1), 1.0, atol=1e-5)


def test_minilm_forward_matches_the_onnx_embedder() -> None:
    from lightmem.embedders.minilm import MiniLMEmbedder
    from lightmem.sensory.segmenters.attention import default_model_dir

    try:
        folder = default_model_dir()
        reference = MiniLMEmbedder().embed(["My puppy chews everything.", "Taxes are due."])
    except ProviderError as exc:  # a model package is not installed
        pytest.skip(str(exc))
    model = load_bert(folder, what="t", option="o", install="i")
    rows = []
    for text in ("My puppy chews everything.", "Taxes are due."):
        ids = np.array([model.tokenizer.encode(text).ids], dtype=np.int64)
        out = model.encoder.forward(ids, attention_layers=frozenset({5}))
        assert out.attentions[5].shape == (1, 12, ids.shape[1], ids.shape[1])
        assert np.allclose(out.attentions[5].sum(axis=-1), 1.0, atol=1e-4)
        rows.append(out.hidden[0].mean(axis=0))
    ours = np.array(rows) / np.linalg.norm(rows, axis=1, keepdims=True)
    assert (ours * reference).sum(axis=1).min() > 0.999  # the ONNX model is int8-quantised
