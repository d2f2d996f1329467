"""LLMLingua-2 compression: a BERT-family token classifier says which tokens to keep.

``model_path`` is a model directory as Hugging Face ships it (``config.json``,
``model.safetensors``, ``tokenizer.json``), e.g. ``microsoft/llmlingua-2-bert-base-
multilingual-cased-meetingbank`` or the XLM-RoBERTa-large variant. It runs on the numpy
forward pass of :mod:`lightmem.models.bert`, not onnxruntime: the published checkpoints are
safetensors, so a user points at the downloaded folder with no export step (an ONNX export
needs torch), the same code serves the attention segmenter, and the test builds a tiny random
classifier with numpy alone. Numpy BLAS is slower than onnxruntime per token, which is
acceptable for a compressor that runs once per turn.

Each text is split into whitespace words and tokenized as pre-split words, in windows of at
most ``max_tokens`` tokens (a window never splits a word). A token's keep probability is the
softmax of its logits at label ``keep_label`` (1 in LLMLingua-2); a word's is the mean of its
tokens' (as LLMLingua-2 does); words are kept best first until they hold ``rate`` of the
text's tokens, in their original order.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from pydantic import Field

from lightmem.errors import ProviderError
from lightmem.models.bert import LoadedBert, load_bert
from lightmem.sensory.compressors.base import Compressor, CompressorOptions
from lightmem.sensory.compressors.words import Words, select_words

HINT = (
    "download an LLMLingua-2 model, e.g. microsoft/llmlingua-2-bert-base-multilingual-cased-"
    "meetingbank, and set compressor.options.model_path to its folder"
)


class LLMLinguaOptions(CompressorOptions):
    model_path: Path | None = Field(None, description="LLMLingua-2 model directory (required)")
    rate: float = Field(0.7, gt=0.0, le=1.0, description="share of each text's tokens to keep")
    keep_label: int = Field(1, ge=0, description="the classifier label meaning 'keep'")
    max_tokens: int = Field(512, ge=8, le=4096, description="tokens per window, specials included")
    batch_size: int = Field(16, ge=1)
    min_words: int = Field(0, ge=0, description="shorter messages are kept whole")


class LLMLinguaCompressor(Compressor):
    Options = LLMLinguaOptions

    def __init__(self, options: LLMLinguaOptions | None = None) -> None:
        self.opts = options if options is not None else LLMLinguaOptions()
        super().__init__(self.opts)
        self._lock = threading.Lock()
        self._model: LoadedBert | None = None

    def compress(self, texts: list[str]) -> list[str]:
        out = list(texts)
        todo = [(i, w) for i, t in enumerate(texts) if len(w := Words.of(t)) > 0]
        todo = [(i, w) for i, w in todo if len(w) >= max(1, self.opts.min_words)]
        if not todo:
            return out
        model = self._load()
        limit = min(self.opts.max_tokens, model.encoder.config.max_positions) - 2
        # windows: (text number, token ids, word index of each token)
        windows: list[tuple[int, list[int], list[int]]] = []
        for n, (_, words) in enumerate(todo):
            tokens = [w.decode("utf-8", "replace") for w in _word_bytes(words)]
            enc = model.tokenizer.encode(tokens, is_pretokenized=True, add_special_tokens=False)
            windows.extend(
                (n, ids, owners) for ids, owners in _windows(enc.ids, enc.word_ids, limit)
            )
        probs = self._keep_probabilities(model, [w[1] for w in windows])
        totals = [np.zeros(len(w), dtype=np.float64) for _, w in todo]
        counts = [np.zeros(len(w), dtype=np.int64) for _, w in todo]
        for (n, _, owners), p in zip(windows, probs, strict=True):
            np.add.at(totals[n], owners, p)
            np.add.at(counts[n], owners, 1)
        for n, (index, words) in enumerate(todo):
            score = np.where(counts[n] > 0, totals[n] / np.maximum(counts[n], 1), -np.inf)
            out[index] = words.join(select_words(score, counts[n], self.opts.rate))
        return out

    def _keep_probabilities(self, model: LoadedBert, windows: list[list[int]]) -> list[np.ndarray]:
        """The keep probability of every token of every window (batched, padded per batch)."""
        result: list[np.ndarray] = [np.zeros(0)] * len(windows)
        order = sorted(range(len(windows)), key=lambda i: len(windows[i]))
        size = self.opts.batch_size
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            width = max(len(windows[i]) for i in rows) + 2
            ids = np.full((len(rows), width), model.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                seq = [model.cls_id, *windows[i], model.sep_id]
                ids[r, : len(seq)] = seq
                mask[r, : len(seq)] = 1
            logits = model.encoder.classify(model.encoder.forward(ids, mask).hidden)
            if not 0 <= self.opts.keep_label < logits.shape[-1]:
                raise ProviderError(
                    f"LLMLingua-2: keep_label {self.opts.keep_label} but the classifier has "
                    f"{logits.shape[-1]} labels"
                )
            e = np.exp(logits - logits.max(axis=-1, keepdims=True))
            keep = e[..., self.opts.keep_label] / e.sum(axis=-1)
            for r, i in enumerate(rows):
                result[i] = keep[r, 1 : 1 + len(windows[i])]
        return result

    def _load(self) -> LoadedBert:
        with self._lock:
            if self._model is None:
                if self.opts.model_path is None:
                    raise ProviderError(f"LLMLingua-2 compressor: no model_path; {HINT}")
                self._model = load_bert(
                    self.opts.model_path,
                    what="LLMLingua-2 compressor",
                    option="compressor.options.model_path",
                    install=HINT,
                )
                if self._model.encoder.classifier is None:
                    raise ProviderError(
                        f"{str(self.opts.model_path)!r} has no token-classification head "
                        f"('classifier.weight'): it is not an LLMLingua-2 model; {HINT}"
                    )
            return self._model


def _word_bytes(words: Words) -> list[bytes]:
    return [words.text[a:b] for a, b in words.spans]


def _windows(
    ids: list[int], word_ids: list[int | None], limit: int
) -> list[tuple[list[int], list[int]]]:
    """Cut a text's tokens into windows of at most ``limit`` tokens at word starts (a single
    word longer than ``limit`` is cut inside)."""
    out: list[tuple[list[int], list[int]]] = []
    start = 0
    n = len(ids)
    while start < n:
        end = min(n, start + limit)
        if end < n:
            cut = end
            while cut > start and word_ids[cut] == word_ids[cut - 1]:
                cut -= 1
            end = cut if cut > start else end
        owners = [int(w) if w is not None else 0 for w in word_ids[start:end]]
        out.append((ids[start:end], owners))
        start = end
    return out
