"""Cost accounting: pure functions over plain values.

Three costs are kept apart, because folding them together is how published numbers hide
work: *construction* (online: the LLM calls ``add``/``flush`` make), the *sleep-time
update* (offline: ``Memory.consolidate()``) and *QA* (answering and judging). Each is LLM
calls, tokens in and out and seconds; construction also has the wall seconds of the whole
build. Search is measured per question, after one warm-up query per conversation (so a
lazily loaded embedding model is not counted): latency p50/p95 and the tokens of the context
a reader would be sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from lightmem.types import StageUsage
from lightmem_bench.systems.base import BuildReport


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) with linear interpolation; 0.0 for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"q must be within 0..100, got {q}")
    if not values:
        return 0.0
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    low, high = math.floor(pos), math.ceil(pos)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def spread(values: Sequence[float]) -> dict[str, float]:
    """n, mean, p50 and p95 of some per-question measurements."""
    n = len(values)
    return {
        "n": n,
        "mean": sum(values) / n if n else 0.0,
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
    }


def total(usages: Iterable[StageUsage]) -> StageUsage:
    out = StageUsage()
    for u in usages:
        out.calls += u.calls
        out.failed_calls += u.failed_calls
        out.tokens_in += u.tokens_in
        out.tokens_out += u.tokens_out
        out.seconds += u.seconds
    return out


def usage_dict(u: StageUsage) -> dict[str, Any]:
    return {
        "calls": u.calls,
        "failed_calls": u.failed_calls,
        "tokens_in": u.tokens_in,
        "tokens_out": u.tokens_out,
        "llm_seconds": round(u.seconds, 3),
    }


def report_dict(report: BuildReport) -> dict[str, Any]:
    """A build report as JSON-able values."""
    data = asdict(report)
    data["online"] = {k: usage_dict(v) for k, v in report.online.items()}
    data["offline"] = {k: usage_dict(v) for k, v in report.offline.items()}
    return data


def report_from_dict(data: Mapping[str, Any]) -> BuildReport:
    def stages(d: Mapping[str, Any]) -> dict[str, StageUsage]:
        return {
            k: StageUsage(
                v["calls"], v["failed_calls"], v["tokens_in"], v["tokens_out"], v["llm_seconds"]
            )
            for k, v in d.items()
        }

    return BuildReport(
        turns=data["turns"],
        skipped_turns=data["skipped_turns"],
        input_tokens=data["input_tokens"],
        units=data["units"],
        seconds=data["seconds"],
        offline_seconds=data["offline_seconds"],
        online=stages(data["online"]),
        offline=stages(data["offline"]),
        failed_batches=data["failed_batches"],
        notes=list(data["notes"]),
    )


def construction_summary(reports: Sequence[BuildReport]) -> dict[str, Any]:
    """Online and offline cost summed over the conversations of one system."""
    online = total(u for r in reports for u in r.online.values())
    offline = total(u for r in reports for u in r.offline.values())
    turns = sum(r.turns for r in reports)
    return {
        "conversations": len(reports),
        "turns": turns,
        "input_tokens": sum(r.input_tokens for r in reports),
        "units": sum(r.units for r in reports),
        "online": {
            **usage_dict(online),
            "wall_seconds": round(sum(r.seconds for r in reports), 3),
            "calls_per_turn": round(online.calls / turns, 4) if turns else 0.0,
        },
        "offline": {
            **usage_dict(offline),
            "wall_seconds": round(sum(r.offline_seconds for r in reports), 3),
        },
        "failed_batches": sum(r.failed_batches for r in reports),
        "notes": [n for r in reports for n in r.notes],
    }


def ratios(summaries: Mapping[str, Mapping[str, Any]], baseline: str) -> dict[str, Any]:
    """Each LLM-building system's cost relative to ``baseline`` (x times): online calls and
    tokens, and calls and prompt tokens with the offline update added on both sides."""
    base = summaries.get(baseline)
    if base is None:
        return {}

    def both(s: Mapping[str, Any], key: str) -> float:
        return float(s["online"][key] + s["offline"][key])

    out: dict[str, Any] = {}
    for name, s in summaries.items():
        if name == baseline or not both(s, "calls"):
            continue  # the baseline itself, and systems that build without an LLM
        row: dict[str, float | None] = {}
        for key in ("calls", "tokens_in", "tokens_out"):
            b, v = base["online"][key], s["online"][key]
            row[key] = round(v / b, 3) if b else None
        for key in ("calls", "tokens_in"):
            b2 = both(base, key)
            row[f"{key}_with_offline"] = round(both(s, key) / b2, 3) if b2 else None
        out[f"{name}/{baseline}"] = row
    return out
