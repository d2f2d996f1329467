"""Tenant text never drives the operator's terminal (issue 19, finding 8): escape sequences
in memories, speakers, session ids and ids are shown escaped by ``get``, ``list``,
``search``, ``history`` and error lines, and written as ``\\u`` escapes in JSON."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from lightmem.cli import render
from lightmem.cli.state import console

#: A window title, a clear screen, an 8-bit CSI, a right-to-left override.
NASTY = "title \x1b]0;pwned\x07 clear \x1b[2J csi \x9b31m rtl \u202e end"
RAW = ("\x1b", "\x9b", "\u202e")


def assert_safe(text: str) -> None:
    assert not any(c in text for c in RAW), repr(text)


def test_a_console_shows_controls_escaped_in_text_and_tables() -> None:
    c = console()
    table = render.Table(title="t\x1b[2J")
    table.add_column("memory")
    table.add_row(Text(NASTY, style="bold"))
    table.add_row("plain \x1b[31m")
    with c.capture() as cap:
        c.print(Text(NASTY))
        c.print(table)
        c.print(NASTY, markup=False)
    shown = cap.get()
    assert_safe(shown)
    assert shown.count("\\x1b") >= 4 and "\\x9b" in shown and "\\u202e" in shown


def test_json_output_escapes_what_json_dumps_leaves_raw() -> None:
    text = render.json_text({"t": NASTY, "ok": "café ✓"})
    assert_safe(text)
    assert json.loads(text) == {"t": NASTY, "ok": "café ✓"}
    assert "café ✓" in text


def test_get_list_search_history_never_print_raw_controls(cli: Any) -> None:
    message = {"role": "user", "speaker": "Ev\x1b]2;x\x07e", "content": "kayak " + NASTY}
    message["session_id"] = "s\x1b[2J"  # an id with a C0 control is refused, as run_id is
    refused = cli("add", "--user", "u1", input=json.dumps([message]))
    assert refused.code == 2 and "session_id must not contain control" in refused.stderr
    assert_safe(refused.stderr)
    message["session_id"] = "s\x9b2J\u202e"  # an 8-bit CSI and an override still get in
    added = cli("add", "--user", "u1", input=json.dumps([message]))
    assert added.code == 0, added.stderr
    assert cli("flush").code == 0
    (entry,) = cli("list", "--user", "u1", "--json").json()
    outputs = [
        cli("list", "--user", "u1"),
        cli("list", "--user", "u1", "--json"),
        cli("get", entry["id"]),
        cli("get", entry["id"], "--json"),
        cli("search", "kayak", "--user", "u1"),
        cli("search", "kayak", "--user", "u1", "--json"),
        cli("history", entry["id"]),
        cli("context", "kayak", "--user", "u1"),
        cli("get", "no\x1b[2Jsuch"),
    ]
    for r in outputs:
        assert_safe(r.stdout + r.stderr)
    shown = outputs[0].stdout + outputs[2].stdout + outputs[4].stdout
    assert "\\x1b]0;pwned" in shown and "\\x9b31m" in shown
    assert "\\x1b" in outputs[-1].stderr
    assert cli("search", "kayak", "--user", "u1", "--json").json()[0]["text"].endswith(NASTY)
