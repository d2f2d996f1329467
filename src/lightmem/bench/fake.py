"""The bench's endless fake LLM: plausible replies for every prompt the harness sends.

With ``llm = "scripted"`` the harness installs :func:`plausible_reply` as the
:class:`~lightmem.llm.scripted.ScriptedLLM` responder (replies queued in the config still
come first). It answers instantly, so a run measures the systems' own call counts and
prompt sizes, as the figures in ``shared/ANCHORS.md`` were measured:

* extraction: one memory per substantive numbered line (``"[n] Speaker: text"`` of 4 or
  more words), ``"{speaker} said: {text}"`` cut to 40 words, its source that line;
* consolidation: ``ignore`` for every target (nothing changes, so retrieval is unaffected);
* an LLM-judge prompt: ``CORRECT`` as JSON (LoCoMo) or ``yes`` (LongMemEval);
* anything else (a QA answer): the first words of the first context line.
"""

from __future__ import annotations

import re
from typing import Any

from lightmem.llm.base import LLM, ChatMessage
from lightmem.llm.scripted import ScriptedLLM
from lightmem.longterm.consolidation import UPDATE_PROMPT
from lightmem.longterm.decisions import BATCH_UPDATE_PROMPT, target_numbers
from lightmem.shortterm.extraction import SYSTEM_PROMPT as EXTRACTION_PROMPT

_LINE = re.compile(r"^\[(\d+)\] ([^:]{1,80}): (.*)$")
MIN_WORDS = 4
MAX_WORDS = 40


def plausible_reply(
    messages: list[ChatMessage], schema: dict[str, Any] | None
) -> str | dict[str, Any]:
    system = next((m.content for m in messages if m.role == "system"), "")
    prompt = next((m.content for m in messages if m.role == "user"), "")
    if system == EXTRACTION_PROMPT:
        return {"memories": fake_memories(prompt)}
    if system == UPDATE_PROMPT:
        return {"action": "ignore", "text": None, "reason": "scripted fake"}
    if system == BATCH_UPDATE_PROMPT:
        return {
            "decisions": [
                {"target": n, "action": "ignore", "text": None, "reason": "scripted fake"}
                for n in target_numbers(prompt)
            ]
        }
    if "CORRECT or WRONG" in prompt:
        return {"label": "CORRECT"}
    if "Answer yes or no only" in prompt:
        return "yes"
    return fake_answer(prompt)


def fake_memories(prompt: str) -> list[dict[str, Any]]:
    out = []
    for line in prompt.splitlines():
        m = _LINE.match(line.strip())
        if m is None:
            continue
        words = m.group(3).split()
        if len(words) < MIN_WORDS:
            continue
        text = f"{m.group(2)} said: {' '.join(words[:MAX_WORDS])}"
        out.append({"text": text, "sources": [int(m.group(1))], "keywords": []})
    return out


def fake_answer(prompt: str) -> str:
    for line in prompt.splitlines():
        line = line.strip().lstrip("-").strip()
        if line and not line.endswith(":") and not line.startswith("#"):
            return " ".join(line.split()[:8])
    return "I don't know"


def install(llm: LLM) -> None:
    """Make a :class:`ScriptedLLM` endless; other backends are left alone."""
    if isinstance(llm, ScriptedLLM):
        llm.respond_with(plausible_reply)
