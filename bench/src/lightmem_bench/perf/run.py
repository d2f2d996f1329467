"""``lightmem bench perf``: search latency, ANN recall, ``add()`` latency, ingest and
consolidation throughput, store size and memory of the SQLite store at several sizes.

At each size a store of synthetic entries (``data``: real sentences, vectors embedded
once and cached, small gaussian noise per entry) is built through ``Store.add_entries``
(or reused from an earlier run), spread over ``users`` owners so that a user filter selects
``1/users`` of it. Then, in this order:

* search through ``Memory.search`` in each mode, for benchmark questions asked by random
  users: p50/p95 of the total, of the retrieval alone and of the query embedding, pooled
  over ``rounds`` rounds after a warm-up round (whose first search per owner is reported
  as the cold figure);
* where the size is above the store's ANN threshold, a second store whose entries all
  belong to one owner: recall@10 of ``search_dense`` against the exact top 10 (computed in
  numpy from the same vectors) and its latency;
* ``add()`` of single turns with the background worker (no LLM, then the scripted LLM);
* one LoCoMo conversation through the whole pipeline with the scripted LLM (ingest
  turns/s), then its consolidation (entries/s);
* bytes on disk per 1,000 entries and the process's peak RSS so far.

Once per run (``throughput``, :mod:`lightmem_bench.perf.throughput`): MiniLM texts/s at 1
and 2 threads, bulk no-LLM ingest (one ``add`` per session vs one per conversation), and
extraction of 1 vs 8 owners with a slow scripted LLM.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from lightmem.config import MemoryConfig, lightmem_home
from lightmem.datasets import load_locomo
from lightmem.embedders.base import Embedder
from lightmem.errors import InputError
from lightmem.memory import Memory
from lightmem.registry import build
from lightmem.stores.sqlite import SQLiteStore
from lightmem_bench.fake import install as install_fake_llm
from lightmem_bench.perf.annscale import ann_scale
from lightmem_bench.perf.data import (
    Corpus,
    find_data_dir,
    load_corpus,
    owner,
    synthetic_entries,
)
from lightmem_bench.perf.measure import (
    Query,
    add_latency,
    ann_recall,
    ingest_and_consolidate,
    search_latency,
)
from lightmem_bench.perf.stats import current_rss_mb, load_average, machine, peak_rss_mb
from lightmem_bench.perf.stores import StoreSpec, corpus_key, ensure_store, store_bytes
from lightmem_bench.perf.throughput import concurrent_extraction, ingest_bulk, thread_scaling

Progress = Callable[[str], None]

SIZES = (10_000, 100_000, 1_000_000)
#: p95 search latency targets (ms, query embedding included) by the largest size they cover.
LATENCY_TARGETS = ((100_000, 20.0), (1_000_000, 50.0))
RECALL_TARGET = 0.95
ADD_P95_TARGET_MS = 10.0
_SUFFIX = {"k": 1_000, "m": 1_000_000}


def parse_sizes(text: str) -> tuple[int, ...]:
    """``"10k,100k,1m"`` -> ``(10000, 100000, 1000000)``."""
    out: list[int] = []
    for part in text.replace(" ", "").lower().split(","):
        if not part:
            continue
        scale = _SUFFIX.get(part[-1], 1)
        number = part[:-1] if part[-1] in _SUFFIX else part
        try:
            value = int(float(number) * scale)
        except ValueError:
            raise InputError(f"cannot read the size {part!r}; write e.g. 10k,100k,1m") from None
        if value < 1:
            raise InputError(f"a size must be positive, got {part!r}")
        out.append(value)
    if not out:
        raise InputError("give at least one size, e.g. 10k,100k,1m")
    return tuple(sorted(set(out)))


def latency_target(size: int) -> float:
    for bound, target in LATENCY_TARGETS:
        if size <= bound:
            return target
    return LATENCY_TARGETS[-1][1]


def embedder_section(name: str, threads: int | None) -> dict[str, Any]:
    if name == "minilm":
        return {"provider": "minilm", "options": {} if threads is None else {"threads": threads}}
    if name == "hash":
        return {"provider": "hash", "options": {"dim": 64}}
    raise InputError(f"unknown embedder {name!r} for the bench; use minilm or hash")


def memory_config(
    embedder: dict[str, Any],
    store_options: dict[str, Any],
    *,
    llm: str = "none",
    background: bool = False,
) -> dict[str, Any]:
    return {
        "embedder": embedder,
        "llm": {"provider": llm},
        "compressor": {"provider": "none"},
        "store": {"provider": "sqlite", "options": dict(store_options)},
        "worker": {"background": background},
    }


def run_perf_bench(
    sizes: Sequence[int] = SIZES,
    *,
    queries: int = 200,
    rounds: int = 3,
    users: int = 100,
    unique_texts: int = 40_000,
    noise: float = 0.02,
    embedder: str = "minilm",
    embed_threads: int | None = 1,
    store_options: dict[str, Any] | None = None,
    ann_max_entries: int | None = None,
    adds: int = 300,
    batch: int = 10_000,
    data_dir: Path | None = None,
    cache_dir: Path | None = None,
    rebuild: bool = False,
    seed: int = 0,
    llm_delay_s: float = 1.0,
    progress: Progress | None = None,
    ann_scale: Sequence[int] = (),
    ann_writes: int = 200,
    throughput: bool = True,
) -> dict[str, Any]:
    """Run the benchmark at each size; returns the JSON-able result (see module doc)."""
    say = progress or (lambda _msg: None)
    data = data_dir or find_data_dir()
    cache = cache_dir or lightmem_home() / "bench-cache"
    opts = dict(store_options or {})
    emb_section = embedder_section(embedder, embed_threads)
    model: Embedder = build(
        "embedder", MemoryConfig.load({"embedder": emb_section}).embedder, Embedder
    )
    say(f"corpus: {unique_texts:,} texts from {data}")
    corpus = load_corpus(data, model, cache, unique=unique_texts, seed=seed, progress=say)
    rng = np.random.default_rng(seed)
    picks = rng.integers(len(corpus.questions), size=queries)
    asked = [
        Query(corpus.questions[int(i)], owner(int(u)).user_id or "")
        for i, u in zip(picks, rng.integers(users, size=queries), strict=True)
    ]
    query_vectors = model.embed([q.text for q in asked])
    conv = load_locomo(data / "locomo-dev.json").conversations[0]
    threshold = _ann_threshold(opts)
    result: dict[str, Any] = {
        "machine": machine(),
        "settings": {
            "sizes": list(sizes),
            "queries": queries,
            "rounds": rounds,
            "users": users,
            "embedder": emb_section,
            "store_options": opts,
            "batch": batch,
            "seed": seed,
            "ann_threshold": threshold,
            "ann_max_entries": ann_max_entries,
            "ann_scale": list(ann_scale),
            "ann_writes": ann_writes,
        },
        "corpus": {
            "unique_texts": len(corpus.texts),
            "questions": len(corpus.questions),
            "noise_sigma": noise,
            "embedded_now": corpus.embedded_now,
            "embed_seconds": round(corpus.embed_seconds, 1),
            "note": f"{len(corpus.texts):,} distinct texts embedded once (cached); every "
            f"entry is one of them with gaussian noise (sigma {noise}) on its vector, "
            "renormalised",
        },
        "sizes": {},
    }
    key = corpus_key(corpus, model.model_id)
    for size in sizes:
        say(f"size {size:,}")
        config = memory_config(emb_section, opts)
        spec = StoreSpec(size, users, noise, seed, key)
        folder, built = ensure_store(
            cache, spec, corpus, config, batch=batch, rebuild=rebuild, progress=say
        )
        row: dict[str, Any] = {"entries": size, "users": users, "per_user": size // users}
        row["build"] = built
        start = time.perf_counter()
        memory = Memory(folder, config=config)
        row["open_seconds"] = round(time.perf_counter() - start, 2)  # migrations included
        try:
            say("  search")
            row["search"] = search_latency(memory, asked, rounds=rounds)
            row["cache"] = _cache_stats(memory)
        finally:
            memory.close()
        if threshold is not None and size > threshold:
            big = min(size, ann_max_entries or size)
            say(f"  ANN: one owner of {big:,} entries")
            big_spec = StoreSpec(big, 1, noise, seed, key)
            big_folder, big_built = ensure_store(
                cache, big_spec, corpus, config, batch=batch, rebuild=rebuild, progress=say
            )
            row["ann"] = _ann_section(
                big_folder, big_spec, corpus, config, query_vectors, rounds, big_built
            )
        say("  add / ingest / consolidation")
        row.update(_online(folder, emb_section, opts, corpus, conv, adds))
        sizes_now = store_bytes(folder)
        row["disk"] = {
            **sizes_now,
            "bytes_per_1k_entries": round(sizes_now["sqlite_bytes"] / size * 1000),
        }
        row["peak_rss_mb"] = peak_rss_mb()
        row["rss_mb"] = current_rss_mb()
        row["targets"] = _targets(size, row)
        result["sizes"][str(size)] = row
    if ann_scale:
        result["ann_scale"] = _ann_scale_sections(
            ann_scale,
            cache,
            corpus,
            key,
            emb_section,
            opts,
            asked,
            query_vectors,
            noise=noise,
            seed=seed,
            batch=batch,
            rebuild=rebuild,
            writes=ann_writes,
            progress=say,
        )
    if throughput:
        say("throughput: embedder threads, bulk ingest, concurrent owners")
        result["throughput"] = {
            "embed_threads": thread_scaling(emb_section, conv),
            "ingest_bulk": ingest_bulk(emb_section, conv),
            "concurrent_extraction": concurrent_extraction(emb_section, conv, delay_s=llm_delay_s),
        }
    result["machine"]["load_average_end"] = load_average()
    return result


def _ann_threshold(opts: dict[str, Any]) -> int | None:
    fields = SQLiteStore.Options.model_fields
    if "ann_threshold" not in fields:
        return None  # a store without an ANN index
    value = opts.get("ann_threshold", fields["ann_threshold"].default)
    return None if value is None else int(value)


def _cache_stats(memory: Memory) -> dict[str, Any] | None:
    stats = getattr(memory.store, "cache_stats", None)
    return stats() if callable(stats) else None


def _exact_top(
    corpus: Corpus, spec: StoreSpec, queries: npt.NDArray[np.float32], k: int
) -> list[list[str]]:
    """The exact top ``k`` ids per query, streamed over the entries' vectors."""
    return _exact_top_scored(corpus, spec, queries, k)[1]


def _exact_top_scored(
    corpus: Corpus, spec: StoreSpec, queries: npt.NDArray[np.float32], k: int
) -> tuple[npt.NDArray[np.float32], list[list[str]]]:
    """The exact top ``k`` (scores, ids) per query, streamed over the entries' vectors."""
    best_s = np.full((len(queries), 0), -np.inf, dtype=np.float32)
    best_i = np.zeros((len(queries), 0), dtype=np.int64)
    for entries, vectors in synthetic_entries(
        corpus, spec.entries, users=spec.users, noise=spec.noise, seed=spec.seed, batch=50_000
    ):
        first = int(entries[0].id[1:])
        scores = queries @ vectors.T
        idx = np.arange(first, first + len(entries))
        all_s = np.concatenate([best_s, scores], axis=1)
        all_i = np.concatenate([best_i, np.broadcast_to(idx, scores.shape)], axis=1)
        # stable order: higher score first, then the older entry (smaller pk) first
        order = np.lexsort((all_i, -all_s), axis=1)[:, :k]
        best_s = np.take_along_axis(all_s, order, axis=1)
        best_i = np.take_along_axis(all_i, order, axis=1)
    return best_s, [[f"e{int(i):08d}" for i in row] for row in best_i]


def _ann_section(
    folder: Path,
    spec: StoreSpec,
    corpus: Corpus,
    config: dict[str, Any],
    query_vectors: npt.NDArray[np.float32],
    rounds: int,
    built: dict[str, Any],
) -> dict[str, Any]:
    truth = _exact_top(corpus, spec, query_vectors, 10)
    memory = Memory(folder, config=config)
    try:
        start = time.perf_counter()
        memory.store.search_dense(owner(0), query_vectors[0], 10)  # loads or builds the index
        first_s = time.perf_counter() - start
        measured = ann_recall(memory.store, owner(0), query_vectors, truth, rounds=rounds)
        stats = _cache_stats(memory)
    finally:
        memory.close()
    return {
        "entries": spec.entries,
        "build": built,
        "first_search_s": round(first_s, 2),
        **measured,
        "cache": stats,
        "disk": store_bytes(folder),
    }


def _ann_scale_sections(
    sizes: Sequence[int],
    cache: Path,
    corpus: Corpus,
    key: str,
    emb_section: dict[str, Any],
    opts: dict[str, Any],
    asked: list[Query],
    query_vectors: npt.NDArray[np.float32],
    *,
    noise: float,
    seed: int,
    batch: int,
    rebuild: bool,
    writes: int,
    progress: Progress,
) -> dict[str, Any]:
    """:func:`~lightmem_bench.perf.annscale.ann_scale` on a one-owner store of each size."""
    out: dict[str, Any] = {}
    config = memory_config(emb_section, opts)
    for size in sizes:
        progress(f"ANN at scale: one owner of {size:,} entries")
        spec = StoreSpec(size, 1, noise, seed, key)
        folder, built = ensure_store(
            cache, spec, corpus, config, batch=batch, rebuild=rebuild, progress=progress
        )

        def exact(
            q: npt.NDArray[np.float32], spec: StoreSpec = spec
        ) -> tuple[npt.NDArray[np.float32], list[list[str]]]:
            return _exact_top_scored(corpus, spec, q, 10)

        row = ann_scale(
            folder,
            config,
            corpus.texts,
            [q.text for q in asked],
            query_vectors,
            exact,
            writes=writes,
            progress=progress,
        )
        out[str(size)] = {"entries": size, "build": built, **row}
    return out


def _online(
    folder: Path,
    emb_section: dict[str, Any],
    opts: dict[str, Any],
    corpus: Corpus,
    conv: Any,
    adds: int,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    texts = [corpus.texts[i % len(corpus.texts)] for i in range(adds)]
    runs: list[tuple[str, str, dict[str, Any]]] = [
        ("add_none_llm", "none", {}),
        ("add_scripted_llm", "scripted", {}),
    ]
    if "synchronous" not in opts and "synchronous" in SQLiteStore.Options.model_fields:
        runs.append(("add_scripted_llm_sync_normal", "scripted", {"synchronous": "NORMAL"}))
    for name, llm, extra in runs:
        config = memory_config(emb_section, {**opts, **extra}, llm=llm, background=True)
        memory = Memory(folder, config=config)
        user = f"perf-{name}"
        try:
            install_fake_llm(memory.llm)
            out[name] = {**add_latency(memory, texts, user_id=user), "store_options": extra}
        finally:
            memory.delete_all(user_id=user)
            memory.close()
    memory = Memory(folder, config=memory_config(emb_section, opts, llm="scripted"))
    try:
        out.update(ingest_and_consolidate(memory, conv, user_id="perf-ingest"))
    finally:
        memory.delete_all(user_id="perf-ingest")
        memory.close()
    return out


def _targets(size: int, row: dict[str, Any]) -> dict[str, Any]:
    target = latency_target(size)
    out: dict[str, Any] = {"search_p95_ms": target}
    for mode, m in row["search"].items():
        if mode in ("dense", "bm25", "hybrid"):
            out[f"{mode}_ok"] = m["total"]["p95_ms"] <= target
    ann = row.get("ann")
    if ann is not None:
        out["ann_recall_ok"] = ann["recall_at_10"] >= RECALL_TARGET
    add = row.get("add_scripted_llm")
    if add is not None:
        out["add_p95_ok"] = add["p95_ms"] <= ADD_P95_TARGET_MS
    return out
