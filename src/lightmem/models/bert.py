"""A numpy forward pass of a BERT-family encoder (BERT, RoBERTa, XLM-RoBERTa), no torch.

A model directory as Hugging Face writes it is read directly: ``config.json``,
``model.safetensors`` (its header is parsed here: an 8-byte little-endian length, a JSON
table, raw little-endian tensors) and ``tokenizer.json`` (loaded with ``tokenizers``). The
forward pass returns the last hidden states and, for the layers asked for, the attention
probabilities; a token-classification head (``classifier.weight``) is applied on request.

It serves the attention segmenter (MiniLM attention maps) and the LLMLingua-2 compressor
(token keep/drop logits), which need outputs that the ONNX embedding export does not have.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lightmem.errors import MissingDependencyError, ProviderError

F32 = npt.NDArray[np.float32]
_DTYPES = {
    "F32": np.float32,
    "F16": np.float16,
    "F64": np.float64,
    "I64": np.int64,
    "I32": np.int32,
    "I16": np.int16,
    "I8": np.int8,
    "U8": np.uint8,
    "BOOL": np.bool_,
}
_PREFIXES = ("bert.", "roberta.", "xlm_roberta.", "model.", "")


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """All tensors of a ``.safetensors`` file (BF16 is widened to float32)."""
    data = Path(path).read_bytes()
    if len(data) < 8:
        raise ProviderError(f"{str(path)!r} is not a safetensors file (too short)")
    (size,) = np.frombuffer(data[:8], dtype="<u8")
    try:
        header = json.loads(data[8 : 8 + int(size)])
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProviderError(f"{str(path)!r} is not a safetensors file: {exc}") from None
    body = memoryview(data)[8 + int(size) :]
    out: dict[str, np.ndarray] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        raw = body[start:end]
        if meta["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr: np.ndarray = bits.view(np.float32)
        elif meta["dtype"] in _DTYPES:
            arr = np.frombuffer(raw, dtype=np.dtype(_DTYPES[meta["dtype"]]).newbyteorder("<"))
        else:
            raise ProviderError(f"{str(path)!r}: tensor {name!r} has unsupported {meta['dtype']}")
        out[name] = arr.reshape(meta["shape"])
    return out


@dataclass(frozen=True, slots=True)
class BertConfig:
    hidden_size: int
    num_layers: int
    num_heads: int
    layer_norm_eps: float = 1e-12
    max_positions: int = 512
    position_offset: int = 0  # RoBERTa numbers positions from padding_idx + 1
    hidden_act: str = "gelu"

    @classmethod
    def from_dict(cls, cfg: dict[str, Any]) -> BertConfig:
        roberta = str(cfg.get("model_type", "bert")).replace("_", "-") in ("roberta", "xlm-roberta")
        offset = int(cfg.get("pad_token_id", 1)) + 1 if roberta else 0
        return cls(
            hidden_size=int(cfg["hidden_size"]),
            num_layers=int(cfg["num_hidden_layers"]),
            num_heads=int(cfg["num_attention_heads"]),
            layer_norm_eps=float(cfg.get("layer_norm_eps", 1e-12)),
            max_positions=int(cfg.get("max_position_embeddings", 512)) - offset,
            position_offset=offset,
            hidden_act=str(cfg.get("hidden_act", "gelu")),
        )


@dataclass(frozen=True, slots=True)
class BertOutput:
    hidden: F32  # (batch, tokens, hidden)
    attentions: dict[int, F32]  # layer -> (batch, heads, tokens, tokens)


class BertEncoder:
    """Weights held as float32 arrays, linear layers pre-transposed for ``x @ W``."""

    def __init__(self, config: BertConfig, tensors: dict[str, np.ndarray]) -> None:
        self.config = config
        prefix = next(
            (p for p in _PREFIXES if f"{p}embeddings.word_embeddings.weight" in tensors), None
        )
        if prefix is None:
            raise ProviderError("no BERT weights found (no 'embeddings.word_embeddings.weight')")

        def get(name: str, *, transpose: bool = False) -> F32:
            key = prefix + name
            if key not in tensors:  # very old checkpoints name LayerNorm parameters gamma/beta
                key = key.replace("LayerNorm.weight", "LayerNorm.gamma").replace(
                    "LayerNorm.bias", "LayerNorm.beta"
                )
            if key not in tensors:
                raise ProviderError(f"BERT weights lack the tensor {prefix + name!r}")
            arr = np.asarray(tensors[key], dtype=np.float32)
            return np.ascontiguousarray(arr.T if transpose else arr)

        self.word = get("embeddings.word_embeddings.weight")
        self.position = get("embeddings.position_embeddings.weight")
        types = prefix + "embeddings.token_type_embeddings.weight"
        self.token_type = (
            np.asarray(tensors[types][0], dtype=np.float32) if types in tensors else None
        )
        self.emb_norm = (get("embeddings.LayerNorm.weight"), get("embeddings.LayerNorm.bias"))
        self.layers: list[dict[str, F32]] = []
        for i in range(config.num_layers):
            p = f"encoder.layer.{i}."
            qkv_names = ("query", "key", "value")
            q, k, v = (get(f"{p}attention.self.{n}.weight", transpose=True) for n in qkv_names)
            qb, kb, vb = (get(f"{p}attention.self.{n}.bias") for n in qkv_names)
            self.layers.append(
                {
                    "qkv": np.concatenate([q, k, v], axis=1),
                    "qkv_b": np.concatenate([qb, kb, vb]),
                    "out": get(f"{p}attention.output.dense.weight", transpose=True),
                    "out_b": get(f"{p}attention.output.dense.bias"),
                    "ln1": get(f"{p}attention.output.LayerNorm.weight"),
                    "ln1_b": get(f"{p}attention.output.LayerNorm.bias"),
                    "up": get(f"{p}intermediate.dense.weight", transpose=True),
                    "up_b": get(f"{p}intermediate.dense.bias"),
                    "down": get(f"{p}output.dense.weight", transpose=True),
                    "down_b": get(f"{p}output.dense.bias"),
                    "ln2": get(f"{p}output.LayerNorm.weight"),
                    "ln2_b": get(f"{p}output.LayerNorm.bias"),
                }
            )
        head = tensors.get("classifier.weight")
        self.classifier: tuple[F32, F32] | None = None
        if head is not None:
            bias = tensors.get("classifier.bias", np.zeros(head.shape[0]))
            self.classifier = (
                np.ascontiguousarray(np.asarray(head, dtype=np.float32).T),
                np.asarray(bias, dtype=np.float32),
            )

    def forward(
        self,
        ids: npt.NDArray[np.int64],
        mask: npt.NDArray[np.int64] | None = None,
        *,
        attention_layers: frozenset[int] = frozenset(),
        last_layer: int | None = None,
    ) -> BertOutput:
        """Run ``ids`` (batch, tokens) through the encoder; ``mask`` marks real tokens.

        ``last_layer`` stops after that layer; ``hidden`` is then that layer's output."""
        return self._run(ids, mask, attention_layers, last_layer, hidden=True)

    def attention_maps(self, ids: npt.NDArray[np.int64], layers: frozenset[int]) -> dict[int, F32]:
        """The attention probabilities of ``layers`` for ``ids`` (all real tokens); the pass
        stops at the last of them, right after its attention (nothing later is computed)."""
        return self._run(ids, None, layers, max(layers), hidden=False).attentions

    def _run(
        self,
        ids: npt.NDArray[np.int64],
        mask: npt.NDArray[np.int64] | None,
        attention_layers: frozenset[int],
        last_layer: int | None,
        *,
        hidden: bool,
    ) -> BertOutput:
        cfg = self.config
        batch, width = ids.shape
        if width > cfg.max_positions:
            raise ProviderError(f"{width} tokens do not fit the model's {cfg.max_positions}")
        positions = np.arange(width) + cfg.position_offset
        x = self.word[ids] + self.position[positions][None]
        if self.token_type is not None:
            x = x + self.token_type
        x = _layer_norm(x, *self.emb_norm, cfg.layer_norm_eps)
        bias = None  # no padding: no mask to add
        if mask is not None and not mask.all():
            bias = np.where(mask[:, None, None, :] > 0, 0.0, -1e9).astype(np.float32)
        heads, size = cfg.num_heads, cfg.hidden_size // cfg.num_heads
        scale = np.float32(1.0 / math.sqrt(size))
        attentions: dict[int, F32] = {}
        stop = len(self.layers) if last_layer is None else last_layer + 1
        for i, w in enumerate(self.layers[:stop]):
            qkv = (x @ w["qkv"] + w["qkv_b"]).reshape(batch, width, 3, heads, size)
            # (batch, heads, tokens, size), contiguous: numpy's stacked matmul is only fast then
            q, v = (np.ascontiguousarray(qkv[:, :, j].transpose(0, 2, 1, 3)) for j in (0, 2))
            k_t = np.ascontiguousarray(qkv[:, :, 1].transpose(0, 2, 3, 1))
            q *= scale
            probs = _softmax_(q @ k_t, bias)
            if i in attention_layers:
                attentions[i] = probs
            if not hidden and i == stop - 1:
                break  # the caller wants this layer's attention only
            context = (probs @ v).transpose(0, 2, 1, 3).reshape(batch, width, cfg.hidden_size)
            x = _layer_norm(
                x + context @ w["out"] + w["out_b"], w["ln1"], w["ln1_b"], cfg.layer_norm_eps
            )
            up = _activation(x @ w["up"] + w["up_b"], cfg.hidden_act)
            x = _layer_norm(
                x + up @ w["down"] + w["down_b"], w["ln2"], w["ln2_b"], cfg.layer_norm_eps
            )
        return BertOutput(hidden=x.astype(np.float32, copy=False), attentions=attentions)

    def classify(self, hidden: F32) -> F32:
        """Token-classification logits (batch, tokens, labels)."""
        if self.classifier is None:
            raise ProviderError("the model has no token-classification head ('classifier.weight')")
        weight, bias = self.classifier
        return np.asarray(hidden @ weight + bias, dtype=np.float32)


@dataclass(frozen=True, slots=True)
class LoadedBert:
    encoder: BertEncoder
    tokenizer: Any  # tokenizers.Tokenizer
    cls_id: int
    sep_id: int
    pad_id: int


def load_bert(model_dir: str | Path, *, what: str, option: str, install: str) -> LoadedBert:
    """Load a model directory; errors name ``option`` (the setting to fix) and ``install``."""
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise MissingDependencyError("tokenizers", hint=f"{what} tokenizes with it") from exc
    folder = Path(model_dir).expanduser()
    for name in ("config.json", "model.safetensors", "tokenizer.json"):
        if not (folder / name).is_file():
            raise ProviderError(
                f"{what}: {str(folder / name)!r} does not exist; point the option {option!r} at a "
                f"model directory with config.json, model.safetensors and tokenizer.json "
                f"({install})"
            )
    try:
        config = BertConfig.from_dict(json.loads((folder / "config.json").read_text("utf-8")))
        tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    except (ValueError, KeyError, OSError) as exc:
        raise ProviderError(f"{what}: cannot read the model in {str(folder)!r}: {exc}") from exc
    except Exception as exc:  # the tokenizers Rust side raises a bare Exception
        raise ProviderError(f"{what}: cannot load {str(folder)!r}/tokenizer.json: {exc}") from exc
    tokenizer.no_padding()
    tokenizer.no_truncation()
    encoder = BertEncoder(config, read_safetensors(folder / "model.safetensors"))

    def token_id(*names: str) -> int:
        for n in names:
            found = tokenizer.token_to_id(n)
            if found is not None:
                return int(found)
        raise ProviderError(f"{what}: the tokenizer has none of the tokens {names}")

    return LoadedBert(
        encoder,
        tokenizer,
        cls_id=token_id("[CLS]", "<s>"),
        sep_id=token_id("[SEP]", "</s>"),
        pad_id=token_id("[PAD]", "<pad>"),
    )


def _layer_norm(x: F32, weight: F32, bias: F32, eps: float) -> F32:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + eps) * weight + bias).astype(np.float32, copy=False)


def _softmax_(x: F32, bias: F32 | None = None) -> F32:
    """Softmax over the last axis, in place (``x`` is a fresh score array)."""
    if bias is not None:
        x += bias
    x -= x.max(axis=-1, keepdims=True)
    np.exp(x, out=x)
    x /= x.sum(axis=-1, keepdims=True)
    return x


def _activation(x: F32, name: str) -> F32:
    """The activation, in place (``x`` is a fresh float32 array)."""
    if name in ("gelu_new", "gelu_pytorch_tanh", "gelu_fast"):
        inner = np.float32(math.sqrt(2 / math.pi)) * (x + np.float32(0.044715) * x**3)
        np.tanh(inner, out=inner)
        inner += 1
        x *= inner
        x *= np.float32(0.5)
        return x
    if name == "relu":
        return np.maximum(x, 0, out=x)
    half = _erf(x * np.float32(1 / math.sqrt(2)))
    half += 1
    half *= np.float32(0.5)
    x *= half
    return x


def _erf(x: F32) -> F32:
    """Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7): the exact GELU without scipy.
    Float32 throughout, in place on ``x`` (a fresh array)."""
    sign = np.sign(x)
    np.abs(x, out=x)
    t = x * np.float32(0.3275911)
    t += 1
    np.reciprocal(t, out=t)
    poly = np.full_like(t, np.float32(1.061405429))
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly *= t
        poly += np.float32(c)
    poly *= t
    np.square(x, out=x)
    np.negative(x, out=x)
    np.exp(x, out=x)
    poly *= x  # poly * exp(-a^2)
    np.subtract(1, poly, out=poly)
    poly *= sign
    return poly
