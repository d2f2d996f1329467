"""Every CLI command is documented in docs/cli-json.md (a section per command)."""

from __future__ import annotations

from pathlib import Path

import typer

from lightmem.cli import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli-json.md"


def command_names() -> list[str]:
    group = typer.main.get_command(app)
    return sorted(group.commands)  # type: ignore[attr-defined]


def test_the_app_has_commands() -> None:
    assert {"add", "ingest", "search", "demo"} <= set(command_names())


def test_every_command_has_a_section_in_cli_json_md() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [name for name in command_names() if f"## `{name}`" not in text]
    assert missing == [], f"commands without a section in {DOC.name}: {missing}"
