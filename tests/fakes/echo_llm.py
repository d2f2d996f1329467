"""A deterministic fake LLM for subprocess tests (loaded by dotted path, like any plugin):
extraction turns each numbered line into one memory (in event mode also one event binding
it, linked to the one before); consolidation always updates (one target or several per
call); a session summary is each session's first line."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from lightmem.llm.base import LLM, ChatMessage, Completion
from lightmem.longterm.summaries import SESSION_MARK
from lightmem.shortterm.extraction import EVENT_PROMPT

_LINE = re.compile(r"^\[(\d+)\] ([^:]+): (.*)$")
_TARGET = re.compile(r"^TARGET \d+$")


def _update(old_line: str) -> dict[str, Any]:
    return {
        "action": "update",
        "reason": "echo",
        "text": old_line.split(": ", 1)[1] + " (confirmed)",
    }


def _summary(block: str) -> dict[str, Any]:
    number, _, body = block.partition("\n")
    lines = [m.group(3) for m in map(_LINE.match, body.splitlines()) if m]
    return {"session": int(number), "summary": "Summary: " + (lines[0] if lines else "empty")}


class EchoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    delay: float = 0.0


class EchoLLM(LLM):
    Options = EchoOptions

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        delay = self.options.delay  # type: ignore[attr-defined]
        if delay:
            time.sleep(delay)
        prompt = messages[-1].content
        reply: dict[str, Any]
        if prompt.startswith(SESSION_MARK):
            blocks = prompt.split(SESSION_MARK)[1:]
            reply = {"summaries": [_summary(b) for b in blocks]}
        elif prompt.startswith("OLD"):
            reply = _update(prompt.splitlines()[0])
        elif prompt.startswith("TARGET"):  # several targets in one call
            lines = prompt.splitlines()
            reply = {
                "decisions": [
                    {"target": int(line.split()[1]), **_update(lines[i + 1])}
                    for i, line in enumerate(lines)
                    if _TARGET.match(line)
                ]
            }
        else:
            mems = []
            for line in prompt.splitlines():
                m = _LINE.match(line)
                if m:
                    mems.append(
                        {"text": f"{m.group(2)} said: {m.group(3)}", "sources": [int(m.group(1))]}
                    )
            reply = {"memories": mems}
            if messages[0].content == EVENT_PROMPT:
                reply["events"] = [
                    {
                        "text": m["text"].replace(" said: ", " did: "),
                        "facts": [n + 1],
                        "sources": m["sources"],
                    }
                    for n, m in enumerate(mems)
                ]
                reply["links"] = [
                    {"source": n, "target": n + 1, "relation": "follow_up"}
                    for n in range(1, len(mems))
                ]
        text = json.dumps(reply)
        return Completion(
            text=text, tokens_in=len(prompt) // 4, tokens_out=len(text) // 4, seconds=delay
        )
