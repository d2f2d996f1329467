"""Tables of a ``bench perf`` result: the same rows on the terminal and in ``report.md``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lightmem_bench.perf.heavy import heavy_tables
from lightmem_bench.perf.neighbour import neighbour_tables
from lightmem_bench.perf.scaleout.report import scaleout_tables
from lightmem_bench.sections import kept_sections

Table = tuple[str, list[str], list[list[str]]]  # title, header, rows


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}"


def _n(value: Any, digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def _ok(flag: Any) -> str:
    return "" if flag is None else (" ok" if flag else " MISS")


def tables(result: dict[str, Any]) -> list[Table]:
    search_head = [
        "entries",
        "mode",
        "p50 ms",
        "p95 ms",
        "target",
        "retrieval p50",
        "retrieval p95",
        "embed p50",
        "embed p95",
        "cold first p95",
    ]
    search_rows: list[list[str]] = []
    other_rows: list[list[str]] = []
    ann_rows: list[list[str]] = []
    for size, row in result.get("sizes", {}).items():
        targets = row.get("targets", {})
        cold = row["search"].get("cold_first_search", {})
        for mode in ("dense", "bm25", "hybrid"):
            m = row["search"][mode]
            emb = m.get("embedding") or {}
            search_rows.append(
                [
                    _n(int(size)),
                    mode,
                    _ms(m["total"]["p50_ms"]),
                    _ms(m["total"]["p95_ms"]),
                    f"<= {targets.get('search_p95_ms', '-')}{_ok(targets.get(f'{mode}_ok'))}",
                    _ms(m["retrieval"]["p50_ms"]),
                    _ms(m["retrieval"]["p95_ms"]),
                    _ms(emb.get("p50_ms")),
                    _ms(emb.get("p95_ms")),
                    _ms(cold.get("p95_ms")),
                ]
            )
        ann = row.get("ann")
        if ann is not None:
            ann_rows.append(
                [
                    _n(int(size)),
                    _n(ann["entries"]),
                    f"{ann['recall_at_10']:.4f}{_ok(targets.get('ann_recall_ok'))}",
                    f"{ann['min_recall_at_10']:.2f}",
                    _ms(ann["search"]["p50_ms"]),
                    _ms(ann["search"]["p95_ms"]),
                    _n(ann["first_search_s"], 1),
                    _n(ann["disk"]["sidecar_bytes"] / 2**20, 1),
                ]
            )
        add_none = row.get("add_none_llm") or {}
        add_llm = row.get("add_scripted_llm") or {}
        add_normal = row.get("add_scripted_llm_sync_normal") or {}
        other_rows.append(
            [
                _n(int(size)),
                _ms(add_none.get("p95_ms")),
                f"{_ms(add_llm.get('p95_ms'))}{_ok(targets.get('add_p95_ok'))}",
                _ms(add_normal.get("p95_ms")),
                _n((row.get("ingest") or {}).get("turns_per_s"), 1),
                _n((row.get("consolidation") or {}).get("entries_per_s"), 1),
                _n(row["build"].get("entries_per_s")),
                _n(row["disk"]["bytes_per_1k_entries"]),
                _n(row.get("peak_rss_mb")),
                _n(row.get("open_seconds"), 2),
            ]
        )
    out: list[Table] = []
    if search_rows:
        title = "search latency through Memory.search (1% user filter), ms"
        out.append((title, search_head, search_rows))
    if ann_rows:
        head = [
            "store",
            "one-owner scope",
            "recall@10",
            "min",
            "p50 ms",
            "p95 ms",
            "first search s",
            "sidecar MiB",
        ]
        out.append(("ANN dense search vs exact top 10 (one large owner)", head, ann_rows))
    head = [
        "entries",
        "add p95 ms (no LLM)",
        "add p95 ms (scripted)",
        "add p95 ms (scripted, sync NORMAL)",
        "ingest turns/s",
        "consolidation entries/s",
        "bulk load entries/s",
        "bytes / 1k entries",
        "peak RSS MiB",
        "open s",
    ]
    if other_rows:
        out.append(("writes, throughput, size", head, other_rows))
    out += throughput_tables(result.get("throughput") or {})
    out += ann_scale_tables(result.get("ann_scale") or {})
    return out


def ann_scale_tables(sections: dict[str, Any]) -> list[Table]:
    """One large owner after reopening its store (``--ann-scale``)."""
    if not sections:
        return []
    head = [
        "one-owner entries",
        "first search_dense s",
        "first Memory.search s",
        "write p50 ms",
        "write p95 ms",
        "search after write p95 ms",
        "recall@10",
        "min",
        "search p95 ms",
        "ANN rebuilds after reopen",
        "sidecar MiB",
    ]
    rows: list[list[str]] = []
    for size, a in sections.items():
        t = a.get("targets", {})
        before = (a.get("after_reopen") or {}).get("ann_rebuilds")
        after = (a.get("cache") or {}).get("ann_rebuilds")
        rebuilds = "-" if before is None or after is None else str(after - before)
        rows.append(
            [
                _n(int(size)),
                f"{a['first_search_dense_s']:.3f}{_ok(t.get('first_search_ok'))}",
                f"{a['first_memory_search_s']:.3f}",
                _ms(a["write"]["p50_ms"]),
                f"{_ms(a['write']['p95_ms'])}{_ok(t.get('write_ok'))}",
                _ms(a["search_after_write"]["p95_ms"]),
                f"{a['recall_at_10']:.4f}{_ok(t.get('recall_ok'))}",
                f"{a['min_recall_at_10']:.2f}",
                _ms(a["search"]["p95_ms"]),
                rebuilds,
                _n(a["disk"]["sidecar_bytes"] / 2**20, 1),
            ]
        )
    return [("ANN at scale: one owner after reopening its store", head, rows)]


def throughput_tables(t: dict[str, Any]) -> list[Table]:
    """Embedder threads, bulk ingest and concurrent owners (one run each)."""
    out: list[Table] = []
    emb = t.get("embed_threads")
    if emb:
        head = ["texts", "1 thread texts/s", "2 threads texts/s"]
        row = [
            _n(emb["texts"]),
            _n(emb["threads_1_texts_per_s"], 1),
            _n(emb["threads_2_texts_per_s"], 1),
        ]
        out.append(("MiniLM on one LoCoMo conversation's turns (median of 3)", head, [row]))
    bulk = t.get("ingest_bulk")
    if bulk:
        head = ["turns", "add per session turns/s", "one add turns/s", "ratio"]
        row = [
            _n(bulk["turns"]),
            _n(bulk["per_session_adds"]["turns_per_s"], 1),
            _n(bulk["one_add"]["turns_per_s"], 1),
            f"{bulk['ratio']}x",
        ]
        out.append(("bulk no-LLM ingest of one conversation, model loaded", head, [row]))
    conc = t.get("concurrent_extraction")
    if conc:
        head = ["LLM delay s", "1 owner s", "8 owners s", "ratio (8 / 1)"]
        row = [
            _n(conc["delay_s"], 1),
            _n(conc["owners_1"]["seconds"], 2),
            _n(conc["owners_8"]["seconds"], 2),
            f"{conc['ratio']}x",
        ]
        out.append(("extraction flush, slow scripted LLM, owners at once", head, [row]))
    return out


def all_tables(result: dict[str, Any]) -> list[Table]:
    """The SQLite sweep's tables (when it ran), then the scale-out load test's."""
    out = tables(result) if "sizes" in result else []
    return (
        out
        + heavy_tables(result.get("heavy_user"))
        + neighbour_tables(result.get("noisy_tenant"))
        + scaleout_tables(result.get("scaleout"))
    )


def markdown(result: dict[str, Any]) -> str:
    lines = ["# LightMem SQLite performance", ""]
    if "settings" not in result:  # the scale-out load test or the heavy user alone
        lines = ["# LightMem performance", ""]
        return "\n".join(lines + _table_lines(all_tables(result)))
    s = result["settings"]
    m = result["machine"]
    c = result["corpus"]
    lines += [
        f"- machine: {m['platform']}, {m['cpus']} CPUs, Python {m['python']}, SQLite "
        f"{m['sqlite']}, load average {m.get('load_average_start')} -> "
        f"{m.get('load_average_end')}",
        f"- queries: {s['queries']} benchmark questions by random users, {s['rounds']} "
        f"timed rounds after a warm-up round; {s['users']} users (a user is 1% of a store "
        f"when users = 100)",
        f"- embedder: {json.dumps(s['embedder'])}; store options: {json.dumps(s['store_options'])}",
        f"- data: {c['note']}",
        "",
    ]
    return "\n".join(lines + _table_lines(all_tables(result)))


def _table_lines(found: list[Table]) -> list[str]:
    lines: list[str] = []
    for title, head, rows in found:
        lines += [f"## {title}", "", "| " + " | ".join(head) + " |"]
        lines.append("|" + "|".join("---" for _ in head) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        lines.append("")
    return lines


def write_report(result: dict[str, Any], folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "report.md"
    path.write_text(markdown(result) + kept_sections(path), encoding="utf-8")
    (folder / "perf.json").write_text(
        json.dumps(result, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return path
