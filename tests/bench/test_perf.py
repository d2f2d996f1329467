"""``lightmem bench perf`` end to end at a tiny size (hash embedder, tiny data files).

No timing is asserted: the machine running the suite is not the one the figures are for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lightmem.errors import InputError
from lightmem_bench.perf.cli import perf_app
from lightmem_bench.perf.data import make_texts
from lightmem_bench.perf.report import markdown
from lightmem_bench.perf.run import parse_sizes, run_perf_bench
from lightmem_bench.perf.stats import recall_at, summary
from tests.bench.conftest import locomo_sample, longmemeval_instance

SEARCH_KEYS = {"total", "retrieval", "embedding"}
LATENCY_KEYS = {"n", "p50_ms", "p95_ms", "mean_ms", "max_ms", "round_p50_ms", "round_p95_ms"}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "locomo-dev.json").write_text(json.dumps([locomo_sample("s1")]), encoding="utf-8")
    (folder / "longmemeval-single.json").write_text(
        json.dumps([longmemeval_instance()]), encoding="utf-8"
    )
    return folder


def bench(data_dir: Path, cache: Path, **kw: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "queries": 8,
        "rounds": 2,
        "users": 10,
        "unique_texts": 60,
        "embedder": "hash",
        "adds": 5,
        "batch": 500,
        "data_dir": data_dir,
        "cache_dir": cache,
        "llm_delay_s": 0.05,
    }
    settings.update(kw)
    return run_perf_bench(**settings)


def test_the_bench_runs_end_to_end_and_reports_every_figure(data_dir: Path, tmp_path: Path) -> None:
    result = bench(
        data_dir, tmp_path / "cache", sizes=(2_000,), store_options={"ann_threshold": 500}
    )
    assert set(result) >= {"machine", "settings", "corpus", "sizes"}
    assert result["corpus"]["unique_texts"] == 60 and "noise" in result["corpus"]["note"]
    row = result["sizes"]["2000"]
    assert row["entries"] == 2_000 and row["per_user"] == 200
    assert row["build"]["entries_per_s"] > 0 and row["build"]["reused"] is False
    for mode in ("dense", "bm25", "hybrid"):
        m = row["search"][mode]
        assert set(m) == SEARCH_KEYS
        assert set(m["total"]) == LATENCY_KEYS and m["total"]["n"] == 16
        assert len(m["total"]["round_p95_ms"]) == 2
    assert row["search"]["bm25"]["embedding"] is None
    assert row["search"]["cold_first_search"]["n"] >= 1
    ann = row["ann"]  # the threshold was lowered, so the one-owner store uses the ANN index
    assert ann["entries"] == 2_000 and 0.5 <= ann["recall_at_10"] <= 1.0
    assert ann["cache"]["ann_owners"] == 1 and ann["disk"]["sidecar_bytes"] > 0
    for llm in ("none", "scripted"):
        assert row[f"add_{llm}_llm"]["n"] == 5
    assert row["ingest"]["turns"] > 0 and row["ingest"]["turns_per_s"] > 0
    assert row["consolidation"]["entries"] >= 0 and "entries_per_s" in row["consolidation"]
    assert row["disk"]["bytes_per_1k_entries"] > 0 and row["peak_rss_mb"] > 0
    assert set(row["targets"]) >= {"search_p95_ms", "dense_ok", "bm25_ok", "hybrid_ok"}
    assert "| 2,000 | dense |" in markdown(result)
    t = result["throughput"]
    assert t["embed_threads"] is None  # MiniLM only
    bulk = t["ingest_bulk"]
    assert bulk["turns"] > 0 and bulk["one_add"]["turns_per_s"] > 0 and bulk["ratio"] > 0
    conc = t["concurrent_extraction"]
    assert conc["owners_1"]["batches"] == 1 and conc["owners_8"]["batches"] == 8
    assert conc["owners_8"]["failed_batches"] == 0 and conc["ratio"] > 0
    assert "owners at once" in markdown(result)
    json.dumps(result)  # JSON-able as it is


def test_a_second_run_reuses_the_cached_vectors_and_stores(data_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    first = bench(data_dir, cache, sizes=(1_000,), rounds=1)
    again = bench(data_dir, cache, sizes=(1_000,), rounds=1)
    assert first["corpus"]["embedded_now"] == 60 and again["corpus"]["embedded_now"] == 0
    assert again["sizes"]["1000"]["build"]["reused"] is True
    assert "ann" not in again["sizes"]["1000"]  # below the default ANN threshold


def test_the_command_writes_json_and_a_report(data_dir: Path, tmp_path: Path) -> None:
    out, report = tmp_path / "perf.json", tmp_path / "report"
    args = [
        "--sizes",
        "1k",
        "--embedder",
        "hash",
        "--queries",
        "4",
        "--rounds",
        "1",
        "--unique-texts",
        "100",
        "--adds",
        "3",
        "--data",
        str(data_dir),
        "--cache",
        str(tmp_path / "cache"),
        "--json",
        str(out),
        "--report",
        str(report),
        "--store-option",
        "cache_mb=64",
        "--quiet",
    ]
    result = CliRunner().invoke(perf_app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "search latency" in result.output
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["settings"]["store_options"] == {"cache_mb": 64}
    assert (report / "report.md").read_text(encoding="utf-8").startswith("# LightMem SQLite")


def test_sizes_are_parsed_with_suffixes() -> None:
    assert parse_sizes("10k,100k,1m") == (10_000, 100_000, 1_000_000)
    assert parse_sizes("2000, 1.5k") == (1_500, 2_000)
    for bad in ("", "ten", "0", "-1k"):
        with pytest.raises(InputError):
            parse_sizes(bad)


def test_synthetic_texts_are_distinct_and_deterministic() -> None:
    turns = [f"Maya: Sentence number {i} is here. And another one follows {i}." for i in range(6)]
    texts = make_texts(turns, 40, seed=3)
    assert len(texts) == len(set(texts)) == 40
    assert texts == make_texts(turns, 40, seed=3)


def test_summaries_and_recall() -> None:
    s = summary([0.001, 0.002, 0.003])
    assert s["n"] == 3 and s["p50_ms"] == pytest.approx(2.0)
    assert summary([])["p95_ms"] is None
    assert recall_at(["a", "b", "x"], ["a", "b", "c"], 3) == pytest.approx(2 / 3)
    assert recall_at([], [], 10) == 1.0
