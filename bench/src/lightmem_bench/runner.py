"""Running a benchmark: pick the data, build (or reuse) each system's memory per
conversation, score retrieval, cost or QA, and return one JSON-able result.

Memories are cached under ``cache_dir/<system>/<key>/<sample_id>``; the key hashes the
harness version, the system's identity (its resolved config and options), the dataset's
SHA-256, the sample and the session limit. A build is written to a ``.partial`` directory and
renamed when complete, so an interrupted build is never reused. ``build.json`` beside it keeps
what the build cost, so a cached run still reports the construction cost it measured.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import lightmem
from lightmem import __version__
from lightmem.config import MemoryConfig
from lightmem.datasets import Conversation, Dataset, load_dataset
from lightmem.tokens import count_tokens
from lightmem_bench import fake
from lightmem_bench.cost import construction_summary, ratios, report_dict, report_from_dict, spread
from lightmem_bench.qa import QASettings, answer_one, qa_questions, render_unit, summarize_qa
from lightmem_bench.retrieval import (
    official_corpus,
    score_locomo,
    score_longmemeval,
    summarize_locomo,
    summarize_longmemeval,
)
from lightmem_bench.systems import BuildReport, BuiltMemory, System, SystemSettings, make_system
from lightmem_bench.systems.base import public_config

HARNESS_VERSION = 1
BUILD_FILE = "build.json"
Command = Literal["retrieval", "qa", "cost"]
Progress = Callable[[str], None]


@dataclass(slots=True)
class BenchSpec:
    dataset: Literal["locomo", "longmemeval"]
    data: Path
    systems: list[str]
    config: MemoryConfig
    cache_dir: Path
    samples: list[str] | None = None
    chunk_tokens: int | None = None
    max_sessions: int | None = None
    consolidate: bool = True
    depth: int = 200  # units asked of each search for the retrieval metrics
    top_k: int = 10  # units in a reader's context (cost and QA)


@dataclass(slots=True)
class Selection:
    dataset: Dataset
    conversations: list[Conversation]
    dropped_questions: int = 0  # evidence outside the kept sessions (with --max-sessions)


def select(spec: BenchSpec) -> Selection:
    """Load the dataset; with ``max_sessions`` keep each conversation's first N sessions and
    the questions whose evidence lies entirely in them."""
    dataset = load_dataset(spec.dataset, spec.data, ids=spec.samples or None)
    if spec.max_sessions is None:
        return Selection(dataset, list(dataset.conversations))
    convs, dropped = [], 0
    for conv in dataset.conversations:
        keep = set(conv.session_ids[: spec.max_sessions])
        turns = [t for t in conv.turns if t.session_id in keep]
        refs = {t.ref for t in turns}
        questions = [q for q in conv.questions if q.evidence and set(q.evidence) <= refs]
        dropped += len(conv.questions) - len(questions)
        convs.append(replace(conv, turns=turns, questions=questions))
    return Selection(dataset, convs, dropped)


@functools.cache
def code_fingerprint() -> str:
    """The library's source, hashed. A build is reused only by the code that made it: with
    the version alone as the key, a change of ingest kept old builds and their figures (a
    LoCoMo no-LLM hit@500tok of 0.901 where the code of the day builds 0.898)."""
    root = Path(lightmem.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(slots=True)
class MemoryCache:
    root: Path
    built: int = 0
    reused: int = 0
    keys: dict[str, str] = field(default_factory=dict)

    def key(self, system: System, conv: Conversation, spec: BenchSpec, sha256: str) -> str:
        identity = {
            "harness": HARNESS_VERSION,
            "lightmem": __version__,
            "code": code_fingerprint(),
            "system": system.name,
            "identity": system.identity(),
            "dataset_sha256": sha256,
            "sample": conv.sample_id,
            "max_sessions": spec.max_sessions,
        }
        blob = json.dumps(identity, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()

    def open(
        self, system: System, conv: Conversation, key: str
    ) -> tuple[BuiltMemory, BuildReport, bool]:
        """The built memory (reused when cached), its build report, and whether reused."""
        final = self.root / system.name / key[:16] / _safe(conv.sample_id)
        self.keys[f"{system.name}/{conv.sample_id}"] = key[:16]
        if (final / BUILD_FILE).is_file():
            report = report_from_dict(json.loads((final / BUILD_FILE).read_text("utf-8")))
            self.reused += 1
            return system.load(conv, final), report, True
        partial = final.with_name(final.name + ".partial")
        if partial.exists():
            shutil.rmtree(partial)  # an interrupted build of ours: never reuse it
        partial.mkdir(parents=True)
        built, report = system.build(conv, partial)
        built.close()
        (partial / BUILD_FILE).write_text(json.dumps(report_dict(report), indent=2), "utf-8")
        if final.exists():
            shutil.rmtree(final)  # a build without build.json: incomplete
        partial.rename(final)
        self.built += 1
        return system.load(conv, final), report, False


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name) or "_"


def run(
    spec: BenchSpec,
    command: Command,
    qa: QASettings | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run ``command`` for every system of ``spec``; returns the whole result."""
    say = progress or (lambda _msg: None)
    selection = select(spec)
    cache = MemoryCache(spec.cache_dir)
    settings = SystemSettings(spec.config, spec.chunk_tokens, spec.consolidate, fake.install)
    result = header(spec, selection, command)
    builds: dict[str, dict[str, Any]] = {}
    for name in spec.systems:
        system = make_system(name, settings)
        try:
            out, summary = _run_system(system, spec, selection, cache, command, qa, say)
        finally:
            system.close()
        result["systems"][name] = out
        builds[name] = summary
    result["cache"] = {
        "dir": str(spec.cache_dir),
        "built": cache.built,
        "reused": cache.reused,
        "keys": cache.keys,
    }
    if qa is not None:
        result["llm_cache"] = {"hits": qa.cache.hits, "misses": qa.cache.misses}
    if "per-turn" in builds:
        result["construction_ratios"] = ratios(builds, "per-turn")
    return result


def _run_system(
    system: System,
    spec: BenchSpec,
    selection: Selection,
    cache: MemoryCache,
    command: Command,
    qa: QASettings | None,
    say: Progress,
) -> tuple[dict[str, Any], dict[str, Any]]:
    sha = selection.dataset.sha256
    reports: list[BuildReport] = []
    rows: list[dict[str, Any]] = []
    latencies: list[float] = []
    context_tokens: list[float] = []
    skipped = 0
    per_build: list[dict[str, Any]] = []
    for conv in selection.conversations:
        key = cache.key(system, conv, spec, sha)
        start = time.perf_counter()
        built, report, reused = cache.open(system, conv, key)
        say(
            f"{system.name} {conv.sample_id}: {'cached' if reused else 'built'} "
            f"({report.units} units, {time.perf_counter() - start:.1f}s)"
        )
        reports.append(report)
        per_build.append({"sample": conv.sample_id, "cached": reused, **report_dict(report)})
        try:
            built.search("warm-up query", 1)  # loads models: latency is measured warm
            if command == "retrieval":
                skipped += _retrieval(built, conv, spec, rows, latencies)
            elif command == "cost":
                _context_cost(built, conv, spec, latencies, context_tokens)
            else:
                assert qa is not None
                skipped += _qa(built, conv, spec.dataset, qa, rows, say)
        finally:
            built.close()
    construction = construction_summary(reports)
    out: dict[str, Any] = {"construction": construction, "builds": per_build}
    if command == "retrieval":
        summary = (
            summarize_locomo(rows, skipped)
            if spec.dataset == "locomo"
            else summarize_longmemeval(rows)
        )
        out["retrieval"] = {
            **summary,
            "depth": spec.depth,
            "search_ms": spread(latencies),
            "questions": rows,
        }
    elif command == "cost":
        out["search"] = {
            "top_k": spec.top_k,
            "search_ms": spread(latencies),
            "context_tokens": spread(context_tokens),
        }
    else:
        out["qa"] = {**summarize_qa(rows, skipped), "questions": rows}
    return out, construction


def _retrieval(
    built: BuiltMemory,
    conv: Conversation,
    spec: BenchSpec,
    rows: list[dict[str, Any]],
    latencies: list[float],
) -> int:
    skipped = 0
    corpus = official_corpus(conv) if spec.dataset == "longmemeval" else None
    depth = spec.depth if corpus is None else max(spec.depth, len(conv.turns))
    for q in conv.questions:
        if corpus is None and not q.evidence:
            skipped += 1
            continue
        start = time.perf_counter()
        units = built.search(q.question, depth)
        latencies.append((time.perf_counter() - start) * 1000)
        rows.append(
            score_locomo(q, units) if corpus is None else score_longmemeval(q, units, corpus)
        )
    return skipped


def _context_cost(
    built: BuiltMemory,
    conv: Conversation,
    spec: BenchSpec,
    latencies: list[float],
    context_tokens: list[float],
) -> None:
    questions, _ = qa_questions(conv, spec.dataset)
    for q in questions:
        start = time.perf_counter()
        units = built.answer_context(q.question, spec.top_k)
        latencies.append((time.perf_counter() - start) * 1000)
        context_tokens.append(float(sum(count_tokens(render_unit(u)) for u in units)))


def _qa(
    built: BuiltMemory,
    conv: Conversation,
    dataset: str,
    qa: QASettings,
    rows: list[dict[str, Any]],
    say: Progress,
) -> int:
    questions, excluded = qa_questions(conv, dataset)
    if qa.max_questions is not None:
        questions = questions[: qa.max_questions]
    for i, q in enumerate(questions, start=1):
        rows.append(answer_one(built, q, dataset, qa))
        if i % 10 == 0 or i == len(questions):
            say(f"  {conv.sample_id}: answered {i}/{len(questions)}")
    return excluded


def header(spec: BenchSpec, selection: Selection, command: Command) -> dict[str, Any]:
    ds = selection.dataset
    return {
        "command": command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "dataset": {
            "name": ds.name,
            "path": ds.path,
            "sha256": ds.sha256,
            "quirks": dict(ds.quirks),
            "conversations": [c.sample_id for c in selection.conversations],
            "turns": sum(len(c.turns) for c in selection.conversations),
            "questions": sum(len(c.questions) for c in selection.conversations),
            "max_sessions": spec.max_sessions,
            "dropped_questions": selection.dropped_questions,
        },
        "options": {
            "chunk_tokens": spec.chunk_tokens,
            "consolidate": spec.consolidate,
            "depth": spec.depth,
            "top_k": spec.top_k,
        },
        "config": public_config(spec.config),
        "llm": llm_label(spec.config),
        "versions": versions(),
        "systems": {},
    }


def llm_label(config: MemoryConfig) -> str:
    """How reports name the LLM path measured."""
    if config.llm.provider == "annotated":
        from lightmem_bench.annotated import LABEL

        return LABEL
    return config.llm.provider


def versions() -> dict[str, str]:
    out = {
        "lightmem": __version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "harness": str(HARNESS_VERSION),
    }
    for dist in ("numpy", "onnxruntime", "tiktoken", "llama_cpp_python", "matplotlib"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


__all__ = ["BenchSpec", "MemoryCache", "run", "select"]
