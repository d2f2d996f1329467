"""``lightmem bench proxy`` end to end on a tiny LoCoMo file (hash embedder). No timing is
asserted: the machine running the suite is not the one the figures are for."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lightmem.cli.app import app
from lightmem.datasets import load_locomo
from lightmem_bench.proxy.replay import exchanges, server_timing
from lightmem_bench.sections import write_section
from tests.bench.conftest import locomo_sample

TOP_KEYS = {"machine", "settings", "tokens", "latency", "stable", "requests"}
ROW_KEYS = {"session", "full_tokens", "upstream_tokens", "injected_tokens", "block_ms", "embed_ms"}


def test_the_conversation_becomes_an_apps_requests(locomo_file: Path) -> None:
    conv = load_locomo(locomo_file).conversations[0]
    plan = exchanges(conv)
    assert [(e.session, e.user[:12], e.reply[:12]) for e in plan] == [
        ("session_1", "My cat Pixel", "Pixel is pic"),
        ("session_1", "I started a ", "Congrats on "),
        ("session_1", "Hi!", "I see."),  # nobody answered: the app still gets a reply
        ("session_2", "We are plann", "Lisbon is lo"),
        ("session_2", "I took up po", "Pottery soun"),
    ]


def test_the_bench_replays_through_the_proxy_and_reports(tmp_path: Path) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps([locomo_sample("s1")]), encoding="utf-8")
    reports = tmp_path / "reports"
    write_section(reports / "report.md", "perf", "# perf\nkept as it was")
    out = tmp_path / "proxy.json"
    argv = ["bench", "proxy", "--data", str(data), "--embedder", "hash", "--history-turns", "2"]
    result = CliRunner().invoke(app, [*argv, "--json", str(out), "--report", str(reports)])
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert set(doc) >= TOP_KEYS and len(doc["requests"]) == 5
    assert all(set(r) >= ROW_KEYS for r in doc["requests"])
    last = doc["requests"][-1]
    assert last["upstream_tokens"] < last["full_tokens"] + last["injected_tokens"]
    assert doc["tokens"]["last_session"]["session"] == "session_2"
    assert 0 <= doc["stable"]["share"] <= 1 and doc["latency"]["overhead"]["n"] == 5
    assert all(r["embed_ms"] <= r["block_ms"] for r in doc["requests"])
    assert doc["latency"]["embed"]["n"] == doc["latency"]["overhead_less_embed"]["n"] == 5
    assert json.loads((reports / "proxy.json").read_text())["settings"]["sample"] == "s1"
    assert doc["settings"]["embedder_model"].startswith("hash")  # the mode it really ran in
    report = (reports / "report.md").read_text()
    assert "kept as it was" in report and "tokens sent upstream" in report


def test_server_timing_is_read_by_metric() -> None:
    header = "lightmem-block;dur=12.5, lightmem-embed;dur=7.0"
    assert server_timing(header) == {"lightmem-block": 12.5, "lightmem-embed": 7.0}
    assert server_timing('other;desc="x";dur=1') == {"other": 1.0}
