"""Tables and plots from a benchmark result: the same tables on the terminal and in
``report.md``, and PNG plots (matplotlib, Agg backend) beside it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lightmem_bench.plots import plots
from lightmem_bench.retrieval import BUDGETS, CATEGORY_NAMES, LOCOMO_KS

Table = tuple[str, list[str], list[list[str]]]  # title, header, rows


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def tables(result: dict[str, Any]) -> list[Table]:
    """Every table the result supports, in reading order."""
    out: list[Table] = []
    systems = result["systems"]
    locomo = result["dataset"]["name"] == "locomo"
    if any("retrieval" in s for s in systems.values()):
        out += _locomo_retrieval(systems) if locomo else _longmemeval_retrieval(systems)
    if any("qa" in s for s in systems.values()):
        out += _qa(systems)
    out.append(_construction(systems))
    if any("search" in s for s in systems.values()):
        out.append(_search(systems))
    return out


def _locomo_retrieval(systems: dict[str, Any]) -> list[Table]:
    head = [
        "system",
        "n",
        *[f"hit@{k}" for k in LOCOMO_KS],
        *[f"recall@{k}" for k in LOCOMO_KS],
        *[f"hit@{b}tok" for b in BUDGETS],
        *[f"recall@{b}tok" for b in BUDGETS],
    ]
    overall, adversarial, per_cat = [], [], []
    for name, s in systems.items():
        r = s["retrieval"]
        o = r["by_category"]["overall"]
        overall.append([name, _f(int(o["n"])), *[_f(o.get(h)) for h in head[2:]]])
        a = r["adversarial"]
        adversarial.append([name, _f(int(a["n"])), *[_f(a.get(h)) for h in head[2:]]])
        for cat, m in r["by_category"].items():
            if cat != "overall":
                per_cat.append(
                    [
                        name,
                        f"{cat} {CATEGORY_NAMES.get(cat, '')}".strip(),
                        _f(int(m["n"])),
                        _f(m["hit@10"]),
                        _f(m["recall@10"]),
                        _f(m["hit@1000tok"]),
                        _f(m["recall@1000tok"]),
                    ]
                )
    return [
        ("LoCoMo retrieval, categories 1-4 (questions with evidence)", head, overall),
        (
            "LoCoMo retrieval by category",
            ["system", "category", "n", "hit@10", "recall@10", "hit@1000tok", "recall@1000tok"],
            per_cat,
        ),
        ("LoCoMo category 5 (adversarial), reported apart", head, adversarial),
    ]


def _longmemeval_retrieval(systems: dict[str, Any]) -> list[Table]:
    cols = [
        f"{lvl}.{m}@{k}"
        for lvl in ("turn", "session")
        for m, k in (("recall_any", 5), ("recall_any", 10), ("recall_all", 10), ("ndcg_any", 10))
    ]
    overall: list[list[str]] = []
    per_type: list[list[str]] = []
    for name, s in systems.items():
        r = s["retrieval"]
        for cat, m in r["by_category"].items():
            row = [name, cat, _f(int(m["n"])), *[_f(m.get(c)) for c in cols]]
            (overall if cat == "overall" else per_type).append(row)
    excluded = next(iter(systems.values()))["retrieval"]["excluded"]["abstention"]
    title = f"LongMemEval retrieval (official metrics; {excluded} abstention questions left out)"
    head = ["system", "type", "n", *cols]
    return [(title, head, overall), ("LongMemEval retrieval by question type", head, per_type)]


def _qa(systems: dict[str, Any]) -> list[Table]:
    rows, per_cat = [], []
    for name, s in systems.items():
        q = s["qa"]
        o = q["by_category"]["overall"]
        c = q["cost"]
        rows.append(
            [
                name,
                _f(int(o["n"])),
                _f(o.get("judge")),
                _f(o.get("f1")),
                _f(o.get("bleu1")),
                _f(c["answer"]["calls"]),
                _f(c["answer"]["tokens_in"]),
                _f(c["judge"]["calls"]),
                _f(c["context_tokens"]["mean"], 0),
                _f(c["search_ms"]["p95"], 1),
                _f(q["errors"]),
                _f(q["judge_unparsable"]),
            ]
        )
        for cat, m in q["by_category"].items():
            if cat != "overall":
                per_cat.append(
                    [name, cat, _f(int(m["n"])), _f(m["judge"]), _f(m["f1"]), _f(m["bleu1"])]
                )
    head = [
        "system",
        "n",
        "judge acc",
        "F1",
        "BLEU-1",
        "answer calls",
        "answer tok in",
        "judge calls",
        "context tok (mean)",
        "search p95 ms",
        "errors",
        "unparsable",
    ]
    return [
        ("QA", head, rows),
        ("QA by category", ["system", "category", "n", "judge acc", "F1", "BLEU-1"], per_cat),
    ]


def _construction(systems: dict[str, Any]) -> Table:
    head = [
        "system",
        "conv",
        "turns",
        "input tok",
        "units",
        "online calls",
        "online tok in",
        "online tok out",
        "calls/turn",
        "build s",
        "offline calls",
        "offline tok in",
        "offline s",
        "failed batches",
    ]
    rows = []
    for name, s in systems.items():
        c = s["construction"]
        on, off = c["online"], c["offline"]
        rows.append(
            [
                name,
                _f(c["conversations"]),
                _f(c["turns"]),
                _f(c["input_tokens"]),
                _f(c["units"]),
                _f(on["calls"]),
                _f(on["tokens_in"]),
                _f(on["tokens_out"]),
                _f(on["calls_per_turn"]),
                _f(on["wall_seconds"], 1),
                _f(off["calls"]),
                _f(off["tokens_in"]),
                _f(off["wall_seconds"], 1),
                _f(c["failed_batches"]),
            ]
        )
    return ("Construction cost (online build) and sleep-time update (offline)", head, rows)


def _search(systems: dict[str, Any]) -> Table:
    rows = []
    for name, s in systems.items():
        q = s["search"]
        rows.append(
            [
                name,
                _f(q["top_k"]),
                _f(int(q["search_ms"]["n"])),
                _f(q["search_ms"]["p50"], 1),
                _f(q["search_ms"]["p95"], 1),
                _f(q["context_tokens"]["mean"], 0),
                _f(q["context_tokens"]["p95"], 0),
            ]
        )
    head = [
        "system",
        "top-k",
        "questions",
        "search p50 ms",
        "search p95 ms",
        "context tok mean",
        "context tok p95",
    ]
    return ("Search latency and reader context per question", head, rows)


def markdown_table(table: Table) -> str:
    title, head, rows = table
    lines = [
        f"### {title}",
        "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" for _ in head) + "|",
    ]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(result: dict[str, Any], folder: Path) -> list[Path]:
    """``report.md`` and the plots; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    written = plots(result, folder)
    ds = result["dataset"]
    quirks = ", ".join(f"{k} {v}" for k, v in ds["quirks"].items()) or "none"
    parts = [
        f"# LightMem benchmark: {result['command']} on {ds['name']}",
        "",
        f"- data: `{Path(ds['path']).name}`, sha256 `{ds['sha256']}`",
        f"- conversations: {', '.join(ds['conversations'])}; turns {ds['turns']:,}; "
        f"questions {ds['questions']:,}"
        + (
            f"; first {ds['max_sessions']} sessions only ({ds['dropped_questions']} questions "
            "with evidence outside them dropped)"
            if ds["max_sessions"]
            else ""
        ),
        f"- dataset quirks (counted, not fixed): {quirks}",
        f"- systems: {', '.join(result['systems'])}; embedder "
        f"`{result['config']['embedder']['provider']}`, "
        f"LLM `{result.get('llm') or result['config']['llm']['provider']}`",
        f"- versions: {', '.join(f'{k} {v}' for k, v in result['versions'].items())}",
        f"- created {result['created']}",
        "",
    ]
    for path in written:
        parts += [f"![{path.stem}]({path.name})", ""]
    for table in tables(result):
        parts += [markdown_table(table), ""]
    lines = ratio_lines(result)
    if lines:
        parts += ["### Construction relative to per-turn extraction", ""]
        parts += [f"- {line}" for line in lines]
        parts.append("")
    md = folder / "report.md"
    md.write_text("\n".join(parts), encoding="utf-8")
    return [md, *written]


def ratio_lines(result: dict[str, Any]) -> list[str]:
    """One line per LLM-building system: its cost as a multiple of per-turn extraction."""
    lines = []
    for name, r in (result.get("construction_ratios") or {}).items():
        lines.append(
            f"{name}: online calls x{_f(r['calls'])}, prompt tokens x{_f(r['tokens_in'])}, "
            f"output tokens x{_f(r['tokens_out'])}; with the offline update: calls "
            f"x{_f(r['calls_with_offline'])}, prompt tokens x{_f(r['tokens_in_with_offline'])}"
        )
    return lines
