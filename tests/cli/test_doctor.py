"""``lightmem doctor`` says in seconds whether the configured LLM endpoint, the embedder and
the store work (issue 19, finding 2), and what to check when one does not."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from lightmem.cli import main
from tests.fakes.openai_server import FakeOpenAIServer


def doctor(tmp_path: Path, llm: dict[str, Any] | str, *args: str) -> tuple[int, Any, str]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"embedder": {"provider": "hash"}, "llm": llm}))
    argv = ["--store", str(tmp_path / "store"), "--config", str(config), "doctor", *args]
    with CliRunner().isolation() as (out, err, _):
        code = main(argv)
        stdout, stderr = out.getvalue().decode(), err.getvalue().decode()
    return code, json.loads(stdout) if "--json" in args else stdout, stderr


def checks(report: Any) -> dict[str, Any]:
    assert [c["name"] for c in report["checks"]] == ["config", "embedder", "llm", "store"]
    return {c["name"]: c for c in report["checks"]}


def test_everything_works(tmp_path: Path, openai_server: FakeOpenAIServer) -> None:
    openai_server.reply("OK")
    llm = {"provider": "openai", "options": {"base_url": openai_server.base_url}}
    code, report, _ = doctor(tmp_path, llm, "--json")
    assert code == 0 and report["ok"] is True
    found = checks(report)
    assert all(c["ok"] and c["error"] is None for c in found.values())
    assert f"openai gpt-4o-mini at {openai_server.base_url}" in found["llm"]["detail"]
    assert len(openai_server.chat_requests) == 1
    assert "no store" in found["store"]["detail"]  # not created by the check
    assert not (tmp_path / "store").exists()


def test_a_dead_endpoint_is_named_with_what_to_check_in_seconds(tmp_path: Path) -> None:
    with FakeOpenAIServer() as gone:
        url = gone.base_url  # nothing listens there any more
    start = time.monotonic()
    code, report, _ = doctor(
        tmp_path, {"provider": "openai", "options": {"base_url": url}}, "--json"
    )
    assert time.monotonic() - start < 10  # the endpoint's default: 5 attempts, 15 s of backoff
    assert code == 1 and report["ok"] is False
    found = checks(report)
    assert not found["llm"]["ok"] and found["embedder"]["ok"] and found["store"]["ok"]
    assert "connection refused" in found["llm"]["error"]
    assert "OPENAI_BASE_URL" in found["llm"]["error"]


def test_an_endpoint_that_never_answers_is_given_the_timeout(
    tmp_path: Path, openai_server: FakeOpenAIServer
) -> None:
    openai_server.reply("OK", delay=300)
    llm = {"provider": "openai", "options": {"base_url": openai_server.base_url}}
    start = time.monotonic()
    code, text, _ = doctor(tmp_path, llm, "--timeout", "1")
    assert time.monotonic() - start < 10
    assert code == 1 and "no answer within 1 s" in text and "FAILED" in text


def test_no_llm_mode_and_a_bad_config(tmp_path: Path) -> None:
    code, report, _ = doctor(tmp_path, "none", "--json")
    assert code == 0 and "no-LLM mode" in checks(report)["llm"]["detail"]
    code, report, _ = doctor(
        tmp_path, {"provider": "openai", "options": {"base_url": "x"}}, "--json"
    )
    assert code == 1
    llm = checks(report)["llm"]
    assert not llm["ok"] and "needs http:// or https://" in llm["error"]
