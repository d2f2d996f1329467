"""The scale-out section's tables, for the terminal and ``report.md``."""

from __future__ import annotations

from typing import Any

Table = tuple[str, list[str], list[list[str]]]


def _f(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def scaleout_tables(s: dict[str, Any] | None) -> list[Table]:
    if not s:
        return []
    setup, t, lat, chk = s["setup"], s["throughput"], s["latency"], s["checks"]
    wk, db = s["workers"], s["database"]
    title = (
        f"PostgreSQL scale-out: {setup['servers']} servers (--no-worker), {setup['workers']} "
        f"workers, {setup['clients']} clients, {setup['seconds']:g} s, one machine"
    )
    head = [
        "ops/s",
        "adds/s",
        "searches/s",
        "add p50 ms",
        "add p95 ms",
        "search p50 ms",
        "search p95 ms",
        "errors",
        "acked turns",
        "lost",
        "decided twice",
    ]
    row = [
        _f(t["ops_per_s"]),
        _f(t["adds_per_s"]),
        _f(t["searches_per_s"]),
        _f(lat["add"]["p50_ms"]),
        _f(lat["add"]["p95_ms"]),
        _f(lat["search"]["p50_ms"]),
        _f(lat["search"]["p95_ms"]),
        str(chk["errors"]),
        f"{chk['acknowledged_turns']:,}",
        str(chk["lost_acknowledged_writes"]),
        str(chk["decisions_applied_twice"]),
    ]
    a = wk["audit"]
    head2 = [
        "batches",
        "memories",
        "decisions",
        "pairs stored",
        "drain s",
        "DB bytes",
        "bytes / (turn + entry)",
    ]
    row2 = [
        f"{a['batches']:,}",
        f"{a['entries_journaled']:,}",
        f"{a['decisions']:,}",
        f"{a['pairs_stored']:,}",
        _f(wk["drain_s"], 2),
        f"{db['schema_bytes']:,}",
        f"{db['bytes_per_turn_and_entry']:,}",
    ]
    return [(title, head, [row]), ("scale-out: what the workers did", head2, [row2])]
