"""``lightmem bench perf --heavy-user``: one user's history added through Memory.add, then
search and context timed through the API and REST (hash embedder, a tiny chat)."""

from __future__ import annotations

import json
from pathlib import Path

from lightmem_bench.perf.heavy import heavy_tables, run_heavy_user, sessions_of


def tiny_chat(folder: Path) -> Path:
    turns = [
        {
            "speaker": "Ana" if i % 2 else "Ben",
            "dia_id": f"D1:{i}",
            "text": f"message {i} about cats",
        }
        for i in range(30)
    ]
    sample = {
        "conversation": {"speaker_a": "Ana", "speaker_b": "Ben", "session_1": turns},
        "qa": [{"question": "What about cats?"}, {"question": "Which message was first?"}],
    }
    (folder / "realtalk-dev.json").write_text(json.dumps([sample]), encoding="utf-8")
    return folder


def test_sessions_cycle_the_turns_in_order_with_times() -> None:
    sessions = sessions_of([("A", "one"), ("B", "two")], 85)
    assert [len(s) for s in sessions] == [40, 40, 5]
    assert sessions[0][1]["content"] == "two" and sessions[1][0]["content"] == "one"
    assert sessions[1][0]["timestamp"] == "2023-01-01T15:00:00"


def test_heavy_user_reports_the_keys_checks_read(tmp_path: Path) -> None:
    result = run_heavy_user(
        [120],
        data=tiny_chat(tmp_path),
        embedder={"provider": "hash", "options": {"dim": 64}},
        queries=2,
        with_contention=False,
    )
    row = result["120"]
    assert (
        row["turns"] == 120 and row["adds"]["per_message"]["turns"] == 40
    )  # a whole first session
    assert row["adds"]["per_session"]["turns"] == 80
    for part in (row["search"], row["context"], row["rest"]["search"], row["rest"]["context"]):
        assert part["n"] == 2 and 0 < part["p50_ms"] <= part["p95_ms"]
    assert row["reopen"]["first_search_ms"] > 0 and row["reopen"]["embedder_load_s"] >= 0
    titles = [t for t, _, _ in heavy_tables(result)]
    assert len(titles) == 2
