"""What to search the memory for when a conversation asks for context (the proxy, the Agents
SDK callback): the text of chat messages, and the recent user turns as the query."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

#: The first line of a memory block put before a conversation.
MEMORY_PREAMBLE = (
    "Long-term memory about the user, kept by LightMem. Use it where it helps the reply; "
    "it may be incomplete."
)


def text_of(message: dict[str, Any]) -> str:
    """A message's text: its ``content`` string, or the text parts of a content list
    (``{"type": "text" | "input_text" | "output_text", "text": ...}``)."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict)]
        return "\n".join(p for p in parts if isinstance(p, str))
    return ""


def memory_query(messages: Sequence[dict[str, Any]], n: int) -> str:
    """The last ``n`` user messages' texts, oldest first: what the memory is searched for."""
    texts = [text_of(m) for m in messages if m.get("role") == "user"]
    return "\n".join(t for t in texts[-n:] if t.strip())
