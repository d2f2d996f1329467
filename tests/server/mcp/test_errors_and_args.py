"""MCP: ``add_memory`` takes who said it and when; every failed call answers
``"<code>: <message>"`` with the REST API's codes, bad arguments naming the field and the
rule (no pydantic dump, no link, not the rejected value)."""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("mcp")

from mcp import Client

from lightmem import Memory
from tests.server.mcp.test_mcp import run_with


def test_add_memory_keeps_the_speaker_and_the_time(memory: Memory) -> None:
    async def work(c: Client) -> Any:
        args = {"content": "I moved to Porto", "speaker": "Maya", "timestamp": "2024-03-01T10:00"}
        return (await c.call_tool("add_memory", args)).structured_content

    out = run_with(memory, "alice", work)
    [turn] = memory.turns(user_id="alice")
    assert turn.id == out["turn_ids"][0] and turn.speaker == "Maya"
    assert turn.timestamp is not None and turn.timestamp.isoformat() == "2024-03-01T10:00:00"
    assert memory.get_all(user_id="alice")[0].text == "Maya: I moved to Porto"


def test_failed_calls_answer_code_colon_message(memory: Memory) -> None:
    async def work(c: Client) -> dict[str, str]:
        out = {}
        for name, args in (
            ("too long", ("add_memory", {"content": "x" * 100_001})),
            ("unknown argument", ("add_memory", {"content": "note", "user_id": "bob"})),
            ("not a flag", ("forget", {"query": "note", "confirm": "yes"})),
            ("bad time", ("add_memory", {"content": "note", "timestamp": "next tuesday"})),
            ("missing", ("get_memory", {"memory_id": "c0ffee"})),
            ("no tool", ("remember", {})),
        ):
            r = await c.call_tool(*args)
            assert r.is_error
            out[name] = r.content[0].text
        return out

    out = run_with(memory, "alice", work)
    assert out["too long"] == "invalid_input: content: String should have at most 100000 characters"
    assert out["unknown argument"] == "invalid_input: user_id: this tool takes no such argument"
    assert out["not a flag"] == "invalid_input: confirm: Input should be a valid boolean"
    assert out["bad time"].startswith("invalid_input: ") and "next tuesday" in out["bad time"]
    assert out["missing"] == "not_found: no memory with id 'c0ffee'"
    assert out["no tool"] == "not_found: no tool named 'remember'"
    for text in out.values():
        assert "Error executing tool" not in text and "pydantic" not in text
        assert "http" not in text and "xxxxxxxxxx" not in text
