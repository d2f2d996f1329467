"""A deterministic fake LLM for subprocess tests (loaded by dotted path, like any plugin):
extraction turns each numbered line into one memory; consolidation always updates."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from pydantic import BaseModel, ConfigDict

from lightmem.llm.base import LLM, ChatMessage, Completion

_LINE = re.compile(r"^\[(\d+)\] ([^:]+): (.*)$")


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
        if prompt.startswith("OLD"):
            first = prompt.splitlines()[0]
            reply: dict[str, Any] = {
                "action": "update",
                "reason": "echo",
                "text": first.split(": ", 1)[1] + " (confirmed)",
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
        text = json.dumps(reply)
        return Completion(
            text=text, tokens_in=len(prompt) // 4, tokens_out=len(text) // 4, seconds=delay
        )
