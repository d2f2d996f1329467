"""A sleep-time responder for the scripted LLM that decides each target on its own text,
answering the single-target prompt and the batched one alike."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from lightmem.llm.base import ChatMessage
from lightmem.longterm.decisions import BATCH_UPDATE_PROMPT

Decide = Callable[[str], dict[str, Any]]


def per_target(decide: Decide) -> Callable[[list[ChatMessage], Any], dict[str, Any]]:
    """``decide(block)`` gets one target as the single prompt shows it ("OLD (...): ..."
    then "NEWER:" lines) and returns its decision."""

    def respond(messages: list[ChatMessage], schema: Any) -> dict[str, Any]:
        system = messages[0].content
        text = next(m.content for m in messages if m.role == "user")  # not a re-ask
        if system != BATCH_UPDATE_PROMPT:
            return decide(text)
        parts = re.split(r"(?m)^TARGET (\d+)\n", text)[1:]
        blocks = zip(parts[::2], parts[1::2], strict=True)
        return {"decisions": [{"target": int(n), **decide(b.strip())} for n, b in blocks]}

    return respond
