"""Tiny BERT token classifiers made with numpy alone (no real LLMLingua-2 weights exist here)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
_VOCAB_WORDS = (
    "i we you the a to and of is was my your it in on at for with went bought adopted "
    "puppy dog cat apple banana paris tokyo concert tax report friday monday yesterday "
    "today tomorrow really very so just like love hate , . ! ?"
)
WORDS = _VOCAB_WORDS.split()


def write_safetensors(path: str | Path, tensors: dict[str, np.ndarray]) -> None:
    """Write float32/int64 tensors as a ``.safetensors`` file (used to make test models)."""
    names = {np.dtype(np.float32): "F32", np.dtype(np.int64): "I64"}
    header: dict[str, Any] = {}
    blobs: list[bytes] = []
    offset = 0
    for name, arr in tensors.items():
        a = np.ascontiguousarray(arr)
        blob = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {
            "dtype": names[a.dtype],
            "shape": list(a.shape),
            "data_offsets": [offset, offset + len(blob)],
        }
        blobs.append(blob)
        offset += len(blob)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    Path(path).write_bytes(np.uint64(len(head)).tobytes() + head + b"".join(blobs))


def make_tokenizer(folder: Path) -> int:
    pieces = [
        *SPECIALS,
        *WORDS,
        *(f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"),
        *"abcdefghijklmnopqrstuvwxyz",
    ]
    vocab = {p: i for i, p in enumerate(dict.fromkeys(pieces))}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.save(str(folder / "tokenizer.json"))
    return len(vocab)


def make_classifier(
    folder: Path,
    *,
    layers: int = 2,
    hidden: int = 16,
    heads: int = 2,
    keep_words: tuple[str, ...] = (),
    seed: int = 0,
    head: bool = True,
) -> Path:
    """A BertForTokenClassification directory. With ``layers=0`` and ``keep_words`` the
    classifier deterministically favours keeping those words' tokens."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = make_tokenizer(folder)
    rng = np.random.default_rng(seed)
    config = {
        "architectures": ["BertForTokenClassification"],
        "model_type": "bert",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": 2 * hidden,
        "max_position_embeddings": 64,
        "type_vocab_size": 2,
        "vocab_size": vocab_size,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
        "id2label": {"0": "drop", "1": "keep"},
    }
    (folder / "config.json").write_text(json.dumps(config))

    def r(*shape: int) -> np.ndarray:
        return rng.normal(0, 0.2, shape).astype(np.float32)

    t: dict[str, np.ndarray] = {
        "bert.embeddings.word_embeddings.weight": r(vocab_size, hidden),
        "bert.embeddings.position_embeddings.weight": r(64, hidden) * 0.1,
        "bert.embeddings.token_type_embeddings.weight": r(2, hidden) * 0.1,
        "bert.embeddings.LayerNorm.weight": np.ones(hidden, np.float32),
        "bert.embeddings.LayerNorm.bias": np.zeros(hidden, np.float32),
    }
    for i in range(layers):
        p = f"bert.encoder.layer.{i}."
        for name in (
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ):
            t[p + name + ".weight"], t[p + name + ".bias"] = r(hidden, hidden), r(hidden)
        t[p + "intermediate.dense.weight"] = r(2 * hidden, hidden)
        t[p + "intermediate.dense.bias"] = r(2 * hidden)
        t[p + "output.dense.weight"] = r(hidden, 2 * hidden)
        t[p + "output.dense.bias"] = r(hidden)
        for ln in ("attention.output.LayerNorm", "output.LayerNorm"):
            t[p + ln + ".weight"] = np.ones(hidden, np.float32)
            t[p + ln + ".bias"] = np.zeros(hidden, np.float32)
    if head:
        t["classifier.weight"], t["classifier.bias"] = r(2, hidden), np.zeros(2, np.float32)
    if keep_words:
        tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        emb = t["bert.embeddings.word_embeddings.weight"]
        emb[:, 0] = -1.0
        for w in keep_words:
            emb[tok.token_to_id(w), 0] = 3.0
        t["classifier.weight"] = np.zeros((2, hidden), np.float32)
        t["classifier.weight"][1, 0] = 4.0
    write_safetensors(folder / "model.safetensors", t)
    return folder
