"""The proxy bench's figures from its rows (one per request), checked against the issue's
targets, and the same figures as tables for the terminal and ``report.md``."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from lightmem_bench.perf.stats import summary
from lightmem_bench.sections import table_lines, write_part

TARGET_LAST_SESSION_RATIO = 0.15
TARGET_OVERHEAD_P95_MS = 15.0
TARGET_STABLE_SHARE = 0.8

Table = tuple[str, list[str], list[list[str]]]


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """``tokens``, ``latency`` and ``stable``: the three figures and whether each meets its
    target."""
    return {"tokens": tokens(rows), "latency": latency(rows), "stable": stable(rows)}


def tokens(rows: list[dict[str, Any]]) -> dict[str, Any]:
    sessions: dict[str, dict[str, Any]] = {}
    for r in rows:
        s = sessions.setdefault(r["session"], {"requests": 0, "full": 0, "upstream": 0})
        s["requests"] += 1
        s["full"] += r["full_tokens"]
        s["upstream"] += r["upstream_tokens"]
    per_session = [
        {
            "session": name,
            "requests": s["requests"],
            "full_tokens": s["full"],
            "upstream_tokens": s["upstream"],
            "ratio": _ratio(s["upstream"], s["full"]),
        }
        for name, s in sessions.items()
    ]
    last = per_session[-1] if per_session else None
    full = sum(r["full_tokens"] for r in rows)
    upstream = sum(r["upstream_tokens"] for r in rows)
    return {
        "full_total": full,
        "upstream_total": upstream,
        "ratio_total": _ratio(upstream, full),
        "per_session": per_session,
        "last_session": last,
        "target_last_session_ratio": TARGET_LAST_SESSION_RATIO,
        "met": last is not None and last["ratio"] <= TARGET_LAST_SESSION_RATIO,
    }


def latency(rows: list[dict[str, Any]]) -> dict[str, Any]:
    overhead = summary([(r["proxy_ms"] - r["direct_ms"]) / 1e3 for r in rows])
    return {
        "direct": summary([r["direct_ms"] / 1e3 for r in rows]),
        "proxy": summary([r["proxy_ms"] / 1e3 for r in rows]),
        "overhead": overhead,
        "block": summary([r["block_ms"] / 1e3 for r in rows]),
        "embed": summary([r["embed_ms"] / 1e3 for r in rows]),
        "overhead_less_embed": summary(
            [(r["proxy_ms"] - r["direct_ms"] - r["embed_ms"]) / 1e3 for r in rows]
        ),
        "target_overhead_p95_ms": TARGET_OVERHEAD_P95_MS,
        "met": overhead["p95_ms"] is not None and overhead["p95_ms"] <= TARGET_OVERHEAD_P95_MS,
    }


def stable(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Requests whose stable part is byte-identical to the previous request's (both with a
    block), and how many changes fell on a session's first request (after sleep time)."""
    compared = identical = at_sleep_time = 0
    for prev, cur in itertools.pairwise(rows):
        if not (prev["stable_hash"] and cur["stable_hash"]):
            continue
        compared += 1
        if cur["stable_hash"] == prev["stable_hash"]:
            identical += 1
        elif cur["session"] != prev["session"]:
            at_sleep_time += 1
    share = identical / compared if compared else None
    return {
        "compared": compared,
        "identical": identical,
        "share": None if share is None else round(share, 4),
        "changes_after_sleep_time": at_sleep_time,
        "target_share": TARGET_STABLE_SHARE,
        "met": share is not None and share >= TARGET_STABLE_SHARE,
    }


def tables(result: dict[str, Any]) -> list[Table]:
    t, lat, st = result["tokens"], result["latency"], result["stable"]
    last = t["last_session"] or {}
    token_rows = [
        [
            str(len(result["requests"])),
            f"{t['full_total']:,}",
            f"{t['upstream_total']:,}",
            _pct(t["ratio_total"]),
            str(last.get("session", "-")),
            _pct(last.get("ratio")),
            _ok(t["met"], f"<= {_pct(t['target_last_session_ratio'])}"),
        ]
    ]
    o, d, p, b = lat["overhead"], lat["direct"], lat["proxy"], lat["block"]
    latency_rows = [
        [
            *(str(x[k]) for x in (d, p, o, b) for k in ("p50_ms", "p95_ms")),
            _ok(lat["met"], f"<= {TARGET_OVERHEAD_P95_MS}"),
        ]
    ]
    e, rest = lat["embed"], lat["overhead_less_embed"]
    apart_rows = [[*(str(x[k]) for x in (e, rest) for k in ("p50_ms", "p95_ms"))]]
    stable_rows = [
        [
            str(st["compared"]),
            str(st["identical"]),
            _pct(st["share"]),
            str(st["changes_after_sleep_time"]),
            _ok(st["met"], f">= {_pct(TARGET_STABLE_SHARE)}"),
        ]
    ]
    token_head = ["requests", "full history tokens", "upstream tokens", "ratio"]
    latency_head = ["direct p50", "direct p95", "proxy p50", "proxy p95", "overhead p50"]
    return [
        (
            "tokens sent upstream vs the full history",
            [*token_head, "last session", "last session ratio", "target"],
            token_rows,
        ),
        (
            "latency, ms (fake upstream, no delay; overhead = proxy - direct, per request; "
            "block = building the memory block, retrieval included)",
            [*latency_head, "overhead p95", "block p50", "block p95", "target"],
            latency_rows,
        ),
        (
            "the overhead apart, ms: embedding the request's new message (the query's other "
            "lines are kept from earlier requests) and the rest",
            ["embed p50", "embed p95", "overhead less embed p50", "overhead less embed p95"],
            apart_rows,
        ),
        (
            "stable part byte-identical to the previous request's",
            ["compared", "identical", "share", "changes after sleep time", "target"],
            stable_rows,
        ),
    ]


def markdown(result: dict[str, Any]) -> str:
    s = result["settings"]
    lines = [
        "## LightMem memory proxy (`lightmem bench proxy`)",
        "",
        f"- machine: {result['machine']['platform']}, {result['machine']['cpus']} CPUs, "
        f"Python {result['machine']['python']}, load average "
        f"{result['machine']['load_average_start']} -> {result['machine'].get('load_average_end')}",
        f"- data: {s['data']} sample {s['sample']} ({s['sessions']} sessions, "
        f"{len(result['requests'])} requests); the app resends its whole history each request",
        f"- proxy: budget_tokens {s['budget_tokens']}, history_turns {s['history_turns']}, "
        f"query_turns {s['query_turns']}; embedder {json.dumps(s['embedder'])} "
        f"({s.get('embedder_model', 'model not recorded')}); no-LLM "
        "extraction; sleep time (flush + consolidate) between sessions",
        f"- command: `{s['command']}`",
    ]
    return "\n".join(lines + table_lines(tables(result))) + "\n"


def write_report(result: dict[str, Any], folder: Path) -> Path:
    """``proxy.json`` and the proxy part of ``report.md`` in ``folder``."""
    return write_part(folder, "proxy", result, markdown(result))


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ok(met: bool, target: str) -> str:
    return f"{target} {'ok' if met else 'MISSED'}"
