"""ChatGPT's conversations.json: only the branch that ends at current_node, null, system,
tool, hidden and non-text messages skipped and counted, the ZIP accepted."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from lightmem.chats import read_chat
from lightmem.chats.chatgpt import branch, newest_leaf
from lightmem.errors import InputError
from tests.chats.conftest import FIXTURES

CONVERSATIONS = FIXTURES / "chatgpt_conversations.json"
FIRST = "chatgpt:c0ffee00-0000-4000-8000-000000000001"


def test_only_the_current_branch_is_imported() -> None:
    export = read_chat(CONVERSATIONS, "chatgpt")
    first, second = export.chats
    assert first.key == FIRST and first.title == "Cat food advice" and not first.split
    assert [m.ref for m in first.messages] == [
        f"{FIRST}:n-q1",
        f"{FIRST}:n-a1",
        f"{FIRST}:n-q2",
        f"{FIRST}:n-a2",
    ]
    assert all("FIRST DRAFT" not in m.content for m in first.messages)  # the regenerated one
    assert [(m.role, m.speaker) for m in first.messages] == [
        ("user", None),
        ("assistant", "ChatGPT"),
        ("user", None),
        ("assistant", "ChatGPT"),
    ]
    # the image part of a multimodal message is left out, its text kept
    assert first.messages[2].content == (
        "Here is the label: what brand should I try next?\nShe is 9 years old."
    )
    assert first.messages[0].timestamp == datetime(2024, 3, 1, 8, 0, 10, 250000)
    assert [m.content for m in second.messages] == ["My sister Zoraida moved to Lisbon last month."]


def test_skipped_messages_are_counted_by_reason() -> None:
    export = read_chat(CONVERSATIONS, "chatgpt")
    assert export.tally.skipped == {
        "null_message": 2,  # both roots
        "system_or_tool": 3,  # the system prompt, a browser call and its tool answer
        "hidden": 1,  # custom instructions
        "non_text": 1,  # an image alone
        "empty": 1,  # an answer of blanks
    }


def test_a_message_without_a_time_takes_the_one_before_or_the_conversations() -> None:
    _, second = read_chat(CONVERSATIONS, "chatgpt").chats
    assert second.messages[0].timestamp == datetime(2024, 4, 1, 10, 0)  # conversation create_time


def test_the_export_zip_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "chatgpt-export.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("chat.html", "<html></html>")
        z.writestr("conversations.json", CONVERSATIONS.read_text(encoding="utf-8"))
    export = read_chat(archive, "chatgpt")
    assert export.path.endswith("chatgpt-export.zip!conversations.json")
    assert sum(len(c.messages) for c in export.chats) == 5


def test_a_zip_without_the_file_is_an_error(tmp_path: Path) -> None:
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("notes.txt", "hello")
    with pytest.raises(InputError, match=r"the ZIP holds no conversations\.json"):
        read_chat(archive, "chatgpt")


def test_missing_current_node_names_the_conversation() -> None:
    with pytest.raises(InputError) as caught:
        read_chat(FIXTURES / "chatgpt_missing_current_node.json", "chatgpt")
    message = str(caught.value)
    assert "conversation 0 (id c0ffee00-0000-4000-8000-000000000003)" in message
    assert "current_node 'does-not-exist' is not a node of its mapping" in message


def test_without_current_node_the_newest_branch_is_read() -> None:
    """A conversation without current_node failed the whole file ('current_node None')."""

    def node(parent: str | None, children: list[str], when: float | None) -> dict[str, Any]:
        message = None if when is None else {"create_time": when}
        return {"parent": parent, "children": children, "message": message}

    mapping = {
        "root": node(None, ["q"], None),
        "q": node("root", ["a1", "a2"], 10.0),
        "a2": node("q", [], 30.0),  # the regenerated answer, written last
        "a1": node("q", ["q2"], 20.0),
        "q2": node("a1", [], 25.0),
    }
    assert branch(mapping, None, "c") == ["root", "q", "a2"]
    assert newest_leaf({"x": node(None, [], None), "y": node(None, [], None)}) == "y"
    with pytest.raises(InputError, match="has no current_node and its mapping no node"):
        branch({}, None, "c")


def test_truncated_json_says_so() -> None:
    with pytest.raises(InputError, match=r"not valid JSON \(line 7.*looks truncated"):
        read_chat(FIXTURES / "chatgpt_truncated.json", "chatgpt")


def test_a_parent_loop_and_a_dangling_parent_are_errors() -> None:
    loop = {"a": {"parent": "b"}, "b": {"parent": "a"}}
    with pytest.raises(InputError, match="form a loop"):
        branch(loop, "a", "conversation 0")
    dangling = {"a": {"parent": "gone"}}
    with pytest.raises(InputError, match="parent 'gone' is not in the mapping"):
        branch(dangling, "a", "conversation 0")
    assert branch({"r": {"parent": None}, "x": {"parent": "r"}}, "x", "c") == ["r", "x"]


def test_a_message_without_a_role_names_the_node(tmp_path: Path) -> None:
    data = [
        {
            "id": "c1",
            "current_node": "u",
            "mapping": {
                "u": {
                    "parent": None,
                    "message": {"content": {"content_type": "text", "parts": ["x"]}},
                }
            },
        }
    ]
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match=r"conversation 0 \(id c1\), message 'u': has no author"):
        read_chat(path, "chatgpt")


def test_a_claude_export_given_as_chatgpt_says_which_it_is() -> None:
    with pytest.raises(
        InputError, match="looks like a Claude export: import it as format 'claude'"
    ):
        read_chat(FIXTURES / "claude_conversations.json", "chatgpt")


def test_an_object_is_not_a_list_of_conversations(tmp_path: Path) -> None:
    path = tmp_path / "conversations.json"
    path.write_text('{"hello": 1}', encoding="utf-8")
    with pytest.raises(InputError, match="expected a list of conversations, got an object"):
        read_chat(path, "chatgpt")
