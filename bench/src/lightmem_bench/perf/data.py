"""Synthetic memory entries from real text, for the performance benchmark.

Texts: the turns of the LoCoMo and LongMemEval files, cut into sentences; the original
turns come first, then pairs of sentences drawn at random (from any conversation), until
``unique`` distinct texts exist. Each is embedded once and the vectors are cached as ``.npy``
under the cache directory, keyed by the embedder and a digest of the texts.

Entries: entry ``i`` takes a text drawn at random and that text's vector plus small gaussian
noise (``noise`` per coordinate), renormalised, so a million entries need only ``unique``
model calls and no two entries have the same vector. Owners are ``user-000`` ... spread
round-robin (each of ``users`` owners holds ``1/users`` of the store); timestamps spread over
two years. Queries are the benchmark questions of the same files.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt

from lightmem.datasets import load_locomo, load_longmemeval
from lightmem.embedders.base import Embedder, normalize
from lightmem.errors import InputError
from lightmem.types import Entry, Scope

DATA_FILES = ("locomo-dev.json", "longmemeval-single.json")
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
MIN_WORDS = 3
MAX_WORDS = 60
EMBED_CHUNK = 2048
#: Entries per random stream of :func:`synthetic_entries`.
BLOCK = 1000
EPOCH = datetime(2023, 1, 1)
SPAN_SECONDS = 2 * 365 * 86400

Progress = Callable[[str], None]


@dataclass(slots=True)
class Corpus:
    texts: list[str]
    vectors: npt.NDArray[np.float32]  # (len(texts), dim), unit-norm rows
    questions: list[str]
    embedded_now: int  # texts embedded in this run (0 when the cache had them)
    embed_seconds: float


def find_data_dir(start: Path | None = None) -> Path:
    """``shared/data`` in the working directory or one of its parents."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / "shared" / "data"
        if all((candidate / name).is_file() for name in DATA_FILES):
            return candidate
    raise InputError(
        f"{' and '.join(DATA_FILES)} not found under shared/data/; give the folder with --data"
    )


def source_turns(data_dir: Path) -> tuple[list[str], list[str]]:
    """The turns (``"Speaker: text"``) and the questions of the data files."""
    turns: list[str] = []
    questions: list[str] = []
    for ds in (
        load_locomo(data_dir / DATA_FILES[0]),
        load_longmemeval(data_dir / DATA_FILES[1]),
    ):
        for conv in ds.conversations:
            for t in conv.turns:
                text = " ".join(t.content.split())
                if text:
                    turns.append(f"{t.speaker or t.role}: {text}")
            questions += [q.question for q in conv.questions if q.question.strip()]
    return turns, list(dict.fromkeys(questions))


def make_texts(turns: list[str], unique: int, seed: int) -> list[str]:
    """``unique`` distinct texts: the turns (cut to ``MAX_WORDS``), then sentence pairs."""
    out: dict[str, None] = {}
    sentences: list[str] = []
    for turn in turns:
        words = turn.split()
        if len(words) >= MIN_WORDS:
            out.setdefault(" ".join(words[:MAX_WORDS]), None)
        speaker, _, body = turn.partition(": ")
        for s in _SENTENCE.split(body):
            if len(s.split()) >= MIN_WORDS:
                sentences.append(f"{speaker}: {s}")
    sentences = list(dict.fromkeys(sentences))
    if not sentences:
        raise InputError("the data files hold no sentence of three words or more")
    rng = np.random.default_rng(seed)
    texts = list(out)[:unique]
    seen = set(texts)
    attempts = 0
    while len(texts) < unique:
        attempts += 1
        if attempts > 50 * unique:
            raise InputError(f"cannot make {unique} distinct texts from {len(sentences)} sentences")
        a, b = rng.integers(len(sentences), size=2)
        second = sentences[b].partition(": ")[2]
        text = " ".join(f"{sentences[a]} {second}".split()[:MAX_WORDS])
        if text not in seen:
            seen.add(text)
            texts.append(text)
    return texts


def load_corpus(
    data_dir: Path,
    embedder: Embedder,
    cache_dir: Path,
    *,
    unique: int,
    seed: int = 0,
    progress: Progress | None = None,
) -> Corpus:
    """The texts and their vectors, embedded now only if the cache does not have them."""
    import time

    turns, questions = source_turns(data_dir)
    texts = make_texts(turns, unique, seed)
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", embedder.model_id)
    path = cache_dir / f"perf-{name}-{embedder.dim}-{len(texts)}-{digest}.npy"
    if path.is_file():
        vectors = np.load(path)
        if vectors.shape == (len(texts), embedder.dim):
            return Corpus(texts, vectors.astype(np.float32), questions, 0, 0.0)
    cache_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    parts: list[npt.NDArray[np.float32]] = []
    for i in range(0, len(texts), EMBED_CHUNK):
        parts.append(embedder.embed(texts[i : i + EMBED_CHUNK]))
        if progress is not None:
            done = min(i + EMBED_CHUNK, len(texts))
            rate = done / max(time.perf_counter() - start, 1e-9)
            progress(f"embedded {done}/{len(texts)} corpus texts ({rate:.0f}/s)")
    vectors = np.concatenate(parts).astype(np.float32)
    seconds = time.perf_counter() - start
    tmp = path.with_suffix(".tmp.npy")
    np.save(tmp, vectors)
    tmp.replace(path)
    (path.with_suffix(".json")).write_text(
        json.dumps({"texts": len(texts), "model": embedder.model_id, "seed": seed}) + "\n",
        encoding="utf-8",
    )
    return Corpus(texts, vectors, questions, len(texts), seconds)


def owner(user: int) -> Scope:
    return Scope(user_id=f"user-{user:03d}")


def synthetic_entries(
    corpus: Corpus,
    n: int,
    *,
    users: int,
    noise: float,
    seed: int,
    batch: int,
) -> Iterator[tuple[list[Entry], npt.NDArray[np.float32]]]:
    """Entries ``0 .. n-1`` in batches of about ``batch``: ``(entries, vectors)``. Each
    block of :data:`BLOCK` entries has its own random stream, so entry ``i`` is the same
    whatever the batch size."""
    entries: list[Entry] = []
    parts: list[npt.NDArray[np.float32]] = []
    for lo in range(0, n, BLOCK):
        hi = min(n, lo + BLOCK)
        rng = np.random.default_rng([seed, lo // BLOCK])
        picks = rng.integers(len(corpus.texts), size=hi - lo)
        noisy = corpus.vectors[picks] + rng.normal(0.0, noise, (hi - lo, corpus.vectors.shape[1]))
        seconds = rng.integers(SPAN_SECONDS, size=hi - lo)
        entries += [
            Entry(
                id=f"e{i:08d}",
                scope=owner(i % users),
                text=corpus.texts[int(p)],
                timestamp=EPOCH + timedelta(seconds=int(s)),
                origin="manual",
            )
            for i, p, s in zip(range(lo, hi), picks, seconds, strict=True)
        ]
        parts.append(normalize(noisy.astype(np.float32)))
        if len(entries) >= batch or hi == n:
            yield entries, np.concatenate(parts)
            entries, parts = [], []
