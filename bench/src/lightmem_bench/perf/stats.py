"""Small pure helpers of the performance benchmark: latency summaries, recall, memory."""

from __future__ import annotations

import os
import platform
import resource
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def summary(seconds: Sequence[float]) -> dict[str, Any]:
    """``{"n", "p50_ms", "p95_ms", "mean_ms", "max_ms"}`` of durations given in seconds."""
    if not seconds:
        return {"n": 0, "p50_ms": None, "p95_ms": None, "mean_ms": None, "max_ms": None}
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    return {
        "n": int(ms.size),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p95_ms": round(float(np.percentile(ms, 95)), 3),
        "mean_ms": round(float(ms.mean()), 3),
        "max_ms": round(float(ms.max()), 3),
    }


def rounds_summary(rounds: Sequence[Sequence[float]]) -> dict[str, Any]:
    """Pooled percentiles over every round, plus each round's p50 and p95 (the spread)."""
    pooled = summary([s for r in rounds for s in r])
    per_round = [summary(r) for r in rounds if r]
    pooled["round_p50_ms"] = [r["p50_ms"] for r in per_round]
    pooled["round_p95_ms"] = [r["p95_ms"] for r in per_round]
    return pooled


def recall_at(found: Sequence[str], truth: Sequence[str], k: int) -> float:
    """Share of the exact top-``k`` that the approximate top-``k`` holds (1.0 if none)."""
    want = list(truth)[:k]
    if not want:
        return 1.0
    return len(set(list(found)[:k]) & set(want)) / len(want)


def peak_rss_mb() -> float:
    """The process's peak resident set size so far, in MiB (monotonic)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(peak / (1024 * 1024 if sys.platform == "darwin" else 1024), 1)


def current_rss_mb() -> float | None:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return None
    return round(pages * os.sysconf("SC_PAGE_SIZE") / 2**20, 1)


def disk_bytes(path: Path) -> int:
    """Bytes of a file with its ``-wal``/``-shm`` companions, or of a folder's files."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    total = 0
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{path}{suffix}")
        if p.is_file():
            total += p.stat().st_size
    return total


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine() -> dict[str, Any]:
    """What the figures were measured on (the load average at the start included)."""
    return {
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "load_average_start": load_average(),
    }
