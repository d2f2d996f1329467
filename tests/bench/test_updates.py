"""``lightmem bench updates`` end to end on two hand-made cases over a tiny chat (MiniLM),
and its refusal of a malformed cases file."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lightmem.cli.app import app
from lightmem_bench.sections import write_section
from lightmem_bench.updates.run import SESSIONS, Case, conversation
from tests.bench.conftest import locomo_sample

CASES = [
    [
        "My dog is called Biscuit.",
        "Biscuit passed away, and we adopted a dog called Pepper.",
        "What is the name of the user's dog?",
        "biscuit",
        "pepper",
    ],
    [
        "My rent is 1200 a month.",
        "The landlord raised my rent to 1450 a month.",
        "How much is the user's rent?",
        "1200",
        "1450",
    ],
]


def test_each_statement_lands_in_its_session() -> None:
    cases = [Case(*c) for c in CASES]
    sessions = conversation(cases, ["filler one", "filler two", "filler three"])
    assert len(sessions) == SESSIONS
    said = {m["content"]: n for n, msgs in enumerate(sessions) for m in msgs}
    assert said[CASES[0][0]] == 1 and said[CASES[0][1]] == 7  # old early, new weeks later
    assert said[CASES[1][0]] == 2 and said[CASES[1][1]] == 8
    first, last = sessions[0][0]["timestamp"], sessions[-1][-1]["timestamp"]
    assert (first, last) == ("2024-01-01T09:00:00", "2024-03-18T09:39:00")  # 12 weeks


def test_the_bench_reports_what_search_context_and_sleep_time_did(tmp_path: Path) -> None:
    cases, filler = tmp_path / "cases.json", tmp_path / "chat.json"
    cases.write_text(json.dumps(CASES), encoding="utf-8")
    filler.write_text(json.dumps([locomo_sample("s1")]), encoding="utf-8")
    reports, out = tmp_path / "reports", tmp_path / "updates.json"
    write_section(reports / "report.md", "perf", "# perf\nkept as it was")
    argv = ["bench", "updates", "--cases", str(cases), "--filler", str(filler)]
    result = CliRunner().invoke(app, [*argv, "--json", str(out), "--report", str(reports), "-q"])
    assert result.exit_code == 0, result.output
    (run,) = json.loads(out.read_text())["runs"]
    assert run["n"] == 2 and run["llm_mode"] == "none"
    assert run["links"]["right"] == 2, run["per_case"]  # both olds marked replaced by their updates
    assert run["search"]["current_first"] == 2 and run["search"]["stale_only"] == 0
    assert run["context"]["current_present"] == 2
    assert [c["linked"] for c in run["per_case"]] == [True, True]
    report = (reports / "report.md").read_text()
    assert "kept as it was" in report and "Facts that changed" in report
    assert json.loads((reports / "updates.json").read_text())["runs"][0]["n"] == 2


def test_a_malformed_cases_file_is_refused_by_name(tmp_path: Path) -> None:
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps([CASES[0], ["only", "three", "strings"]]), encoding="utf-8")
    result = CliRunner().invoke(app, ["bench", "updates", "--cases", str(cases), "-q"])
    assert result.exit_code != 0
    assert "case 1" in str(result.exception) + result.output


def test_a_filler_file_not_in_locomos_layout_is_refused(tmp_path: Path) -> None:
    cases, filler = tmp_path / "cases.json", tmp_path / "chat.json"
    cases.write_text(json.dumps(CASES), encoding="utf-8")
    argv = ["bench", "updates", "--cases", str(cases), "--filler", str(filler), "-q"]
    for bad in ([{"qa": []}], {"conversation": {}}, [{"conversation": {"session_1": ["hi"]}}]):
        filler.write_text(json.dumps(bad), encoding="utf-8")
        result = CliRunner().invoke(app, argv)
        assert result.exit_code != 0
        assert "LoCoMo's layout" in str(result.exception), result.exception


def test_a_key_must_be_a_lower_case_part_of_its_statement(tmp_path: Path) -> None:
    cases = tmp_path / "cases.json"
    for key in ("Biscuit", "", "rex"):
        cases.write_text(json.dumps([[*CASES[0][:3], key, "pepper"]]), encoding="utf-8")
        result = CliRunner().invoke(app, ["bench", "updates", "--cases", str(cases), "-q"])
        assert result.exit_code != 0
        assert "must be a lower-case part" in str(result.exception)
