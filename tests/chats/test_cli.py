"""``lightmem import-chat`` end to end through ``lightmem.cli.main`` (the one place errors
become exit codes), with the hashing embedder and no LLM. Until the command is wired into
the main app, it is mounted on a test-local app beside the real global options."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from lightmem import Memory
from lightmem.cli import main
from lightmem.cli.import_chat import import_chat
from tests.chats.conftest import FIXTURES

#: the module (``lightmem.cli.app`` the attribute is the Typer app it defines)
app_module = importlib.import_module("lightmem.cli.app")
CONFIG = '[embedder]\nprovider = "hash"\n\n[llm]\nprovider = "none"\n'


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    group = typer.main.get_command(app_module.app)
    if "import-chat" not in group.commands:  # type: ignore[attr-defined]
        local = typer.Typer(no_args_is_help=True, add_completion=False)
        local.callback()(app_module._options)
        local.command("import-chat")(import_chat)
        monkeypatch.setattr(app_module, "app", local)
    config = tmp_path / "config.toml"
    config.write_text(CONFIG, encoding="utf-8")

    def run(*args: str) -> Outcome:
        argv = ["--store", str(tmp_path / "store"), "--config", str(config), *args]
        with CliRunner().isolation() as (out, err, _):
            code = main(argv)
            return Outcome(code, out.getvalue().decode(), err.getvalue().decode())

    return run


def stored(tmp_path: Path, user: str = "maya") -> int:
    with Memory(tmp_path / "store") as mem:
        return len(mem.turns(user_id=user))


def test_import_prints_the_counts(cli: Any, tmp_path: Path) -> None:
    r = cli(
        "import-chat",
        str(FIXTURES / "whatsapp_android_12h.txt"),
        "--format",
        "WhatsApp",  # the service's own spelling is fine too
        "--user",
        "maya",
    )
    assert r.code == 0, r.stderr
    for row in ("sessions", "added", "already present", "skipped: media", "skipped: system_line"):
        assert row in r.stdout
    assert "2023-12-30T21:42:00 .. 2024-01-02T08:15:00" in r.stdout
    assert stored(tmp_path) == 7


def test_json_and_reimport(cli: Any) -> None:
    args = (
        "import-chat",
        str(FIXTURES / "chatgpt_conversations.json"),
        "-f",
        "chatgpt",
        "-u",
        "maya",
        "--json",
        "--quiet",
    )
    first = cli(*args)
    assert first.code == 0, first.stderr
    data = first.json()
    assert (data["added"], data["already_present"], data["sessions"]) == (5, 0, 2)
    assert data["skipped"] == {
        "empty": 1,
        "hidden": 1,
        "non_text": 1,
        "null_message": 2,
        "system_or_tool": 3,
    }
    again = cli(*args).json()
    assert (again["added"], again["already_present"], again["sessions_added"]) == (0, 5, 0)


def test_dry_run_previews_and_writes_nothing(cli: Any, tmp_path: Path) -> None:
    r = cli(
        "import-chat",
        str(FIXTURES / "telegram_full.json"),
        "--format",
        "telegram",
        "--user",
        "maya",
        "--dry-run",
    )
    assert r.code == 0, r.stderr
    assert "would add" in r.stdout and "Climbing club" in r.stdout
    assert "dry run: nothing was written" in r.stderr
    assert stored(tmp_path) == 0
    data = cli(
        "import-chat",
        str(FIXTURES / "telegram_full.json"),
        "--format",
        "telegram",
        "--user",
        "maya",
        "--dry-run",
        "--json",
    ).json()
    assert data["dry_run"] is True and data["added"] == 3


def test_gap_hours_and_agent(cli: Any, tmp_path: Path) -> None:
    r = cli(
        "import-chat",
        str(FIXTURES / "whatsapp_android_12h.txt"),
        "--format",
        "whatsapp",
        "--user",
        "maya",
        "--agent",
        "diary",
        "--gap-hours",
        "100",
        "--json",
    )
    assert r.code == 0, r.stderr
    assert r.json()["sessions"] == 1
    with Memory(tmp_path / "store") as mem:
        assert len(mem.turns(user_id="maya", agent_id="diary")) == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("whatsapp_bad_first_line.txt", "whatsapp"), "line 1: 'Chat history with Tom'"),
        (("chatgpt_missing_current_node.json", "chatgpt"), "current_node 'does-not-exist'"),
        (("chatgpt_truncated.json", "chatgpt"), "looks truncated"),
        (("telegram_chat.json", "whatsapp"), "looks like a Telegram export"),
        (("whatsapp_ios.txt", "signal"), "unknown chat format 'signal'"),
    ],
)
def test_bad_files_exit_2_and_write_nothing(
    cli: Any, tmp_path: Path, args: tuple[str, str], message: str
) -> None:
    r = cli("import-chat", str(FIXTURES / args[0]), "--format", args[1], "--user", "maya")
    assert r.code == 2
    assert r.stderr.startswith("error: ") and message in r.stderr
    assert not (tmp_path / "store").exists()  # not even an empty store made


def test_a_scope_is_required(cli: Any) -> None:
    r = cli("import-chat", str(FIXTURES / "whatsapp_ios.txt"), "--format", "whatsapp")
    assert r.code == 2 and "--user" in r.stderr
