"""The pure parts of the proxy on hand-built inputs: trimming, the memory query, the stable
part's order and budget, the event-stream reassembly."""

from __future__ import annotations

from datetime import datetime

from lightmem.retrieval.context import session_line
from lightmem.retrieval.query import memory_query, text_of
from lightmem.server.proxy.block import (
    SESSIONS_HEADER,
    STABLE_HEADER,
    message_tokens,
    render_stable,
    split_system,
    trim,
)
from lightmem.server.proxy.recorder import StreamText, reply_text
from lightmem.tokens import count_tokens as counts_of
from lightmem.types import Entry, Scope

ALICE = Scope("alice")


def msg(role: str, content: str) -> dict[str, str]:
    return {"role": role, "content": content}


def entry(i: str, text: str, *, pinned: bool = False, kind: str = "fact", day: int = 1) -> Entry:
    return Entry(
        id=i,
        scope=ALICE,
        text=text,
        pinned=pinned,
        kind=kind,  # type: ignore[arg-type]
        timestamp=datetime(2024, 3, day),
        created_at=datetime(2024, 3, day),
    )


def test_split_system_keeps_the_leading_instructions() -> None:
    messages = [msg("system", "a"), msg("developer", "b"), msg("user", "c"), msg("system", "d")]
    system, turns = split_system(messages)
    assert system == messages[:2] and turns == messages[2:]


def test_trim_keeps_the_last_turns_and_drops_orphan_tool_results() -> None:
    turns = [msg("user", "1"), msg("assistant", "2"), msg("tool", "3"), msg("user", "4")]
    assert trim(turns, 0) == (turns, [])
    assert trim(turns, 9) == (turns, [])
    sent, dropped = trim(turns, 2)
    assert sent == [msg("user", "4")] and dropped == turns[:3]  # the tool result went too
    assert trim(turns, 3) == (turns[1:], turns[:1])


def test_the_memory_query_is_the_recent_user_turns() -> None:
    turns = [msg("user", "a"), msg("assistant", "x"), msg("user", "b"), msg("user", "c")]
    assert memory_query(turns, 2) == "b\nc"
    assert memory_query([msg("assistant", "x")], 3) == ""
    parts = {"role": "user", "content": [{"type": "text", "text": "p1"}, {"type": "image_url"}]}
    assert text_of(parts) == "p1" and memory_query([parts], 1) == "p1"


def test_the_stable_part_is_ordered_and_budgeted() -> None:
    entries = [
        entry("s2", "second session about boats", kind="summary", day=5),
        entry("p1", "allergic to peanuts", pinned=True, day=3),
        entry("f1", "an ordinary fact", day=2),
        entry("s1", "first session about bikes", kind="summary", day=1),
    ]
    text, ids = render_stable(entries, 500)
    assert ids == ["p1", "s1", "s2"] and text.startswith(STABLE_HEADER)
    assert text.index("peanuts") < text.index("bikes") < text.index("boats")
    assert render_stable(list(reversed(entries)), 500) == (text, ids)  # order-proof
    small, small_ids = render_stable(entries, 45)  # the header (25) and the pin (16)
    assert small_ids == ["p1"] and "bikes" not in small
    one = 45 + counts_of(SESSIONS_HEADER) + 2 + counts_of(session_line(entries[0])) + 1
    latest, latest_ids = render_stable(entries, one)  # room for one summary: the latest
    assert latest_ids == ["p1", "s2"] and "boats" in latest and "bikes" not in latest
    assert render_stable([], 500) == (STABLE_HEADER, [])


def test_message_tokens_count_text_and_overhead() -> None:
    assert message_tokens([]) == 0
    assert message_tokens([msg("user", "")]) == 4
    assert message_tokens([msg("user", "hello world")]) == 4 + 2


def test_stream_text_reassembles_across_chunk_boundaries() -> None:
    stream = (
        b'data: {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}\n\n'
        b'data: {"choices": [{"index": 0, "delta": {"content": "Hel"}}]}\n\n'
        b'data: {"choices": [{"index": 1, "delta": {"content": "other choice"}}]}\n\n'
        b": a comment\r\n"
        b'data: {"choices": [{"index": 0, "delta": {"content": "lo"}}]}\r\n\r\n'
        b"data: [DONE]\n\n"
    )
    reader = StreamText()
    for i in range(0, len(stream), 7):
        reader.feed(stream[i : i + 7])
    assert reader.text == "Hello" and reader.done and reader.error is None
    broken = StreamText()
    broken.feed(b'data: {"error": {"message": "overloaded"}}\n\n')
    assert broken.error is not None


def test_reply_text_reads_the_first_choice() -> None:
    assert reply_text({"choices": [{"message": {"content": "hi"}}]}) == "hi"
    assert reply_text({"choices": []}) == "" and reply_text({}) == ""
