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

The same fake as a backend of its own, ``llm = "plausible"`` (:class:`PlausibleLLM`), for
processes the harness does not reach into (the scale-out load test's servers and
workers); its ``decide = "update"`` answers every consolidation target with an update to
its newest NEWER line, so that decisions change entries and can be counted.
"""

from __future__ import annotations

import re
import time
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from lightmem.llm.base import LLM, ChatMessage
from lightmem.llm.scripted import ScriptedLLM, ScriptedOptions
from lightmem.longterm.consolidation import UPDATE_PROMPT
from lightmem.longterm.decisions import BATCH_UPDATE_PROMPT, TARGET_HEADER, target_numbers
from lightmem.longterm.summaries import SESSION_MARK, SUMMARY_PROMPT
from lightmem.shortterm.extraction import EVENT_PROMPT
from lightmem.shortterm.extraction import SYSTEM_PROMPT as EXTRACTION_PROMPT

_LINE = re.compile(r"^\[(\d+)\] ([^:]{1,80}): (.*)$")
_NEWER = re.compile(r"^- \([^)]*\) (.*)$")
MIN_WORDS = 4
MAX_WORDS = 40


def plausible_reply(
    messages: list[ChatMessage], schema: dict[str, Any] | None
) -> str | dict[str, Any]:
    system = next((m.content for m in messages if m.role == "system"), "")
    prompt = next((m.content for m in messages if m.role == "user"), "")
    if system == EXTRACTION_PROMPT:
        return {"memories": fake_memories(prompt)}
    if system == EVENT_PROMPT:
        memories = fake_memories(prompt)
        return {"memories": memories, "events": fake_events(memories), "links": []}
    if system == SUMMARY_PROMPT:
        return {"summaries": fake_summaries(prompt)}
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


def fake_events(memories: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One event per run of memories from the same speaker, binding them."""
    events: list[dict[str, Any]] = []
    for n, m in enumerate(memories, start=1):
        who = m["text"].split(" said: ")[0]
        if events and events[-1]["who"] == [who]:
            events[-1]["facts"].append(n)
            continue
        events.append({"text": m["text"], "who": [who], "facts": [n], "sources": m["sources"]})
    return events


def fake_summaries(prompt: str) -> list[dict[str, Any]]:
    """Each '# Session n' block summarised by its first substantive line."""
    out: list[dict[str, Any]] = []
    for block in prompt.split(SESSION_MARK)[1:]:
        head, _, body = block.partition("\n")
        lines = fake_memories(body)
        text = lines[0]["text"] if lines else "A short conversation."
        out.append({"session": int(head.strip()), "summary": text, "keywords": []})
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


def newest_lines(prompt: str) -> dict[int, str]:
    """The text of the last NEWER line of each target of a consolidation prompt (target 1
    for the single-target prompt)."""
    out: dict[int, str] = {}
    number = 1
    for line in prompt.splitlines():
        header = TARGET_HEADER.match(line.strip())
        if header is not None:
            number = int(header.group(1))
        m = _NEWER.match(line.strip())
        if m is not None:
            out[number] = m.group(1)
    return out


def updating_reply(
    messages: list[ChatMessage], schema: dict[str, Any] | None
) -> str | dict[str, Any]:
    """:func:`plausible_reply`, except that consolidation updates every target."""
    system = next((m.content for m in messages if m.role == "system"), "")
    prompt = next((m.content for m in messages if m.role == "user"), "")
    if system == UPDATE_PROMPT:
        text = newest_lines(prompt).get(1, "updated")
        return {"action": "update", "text": text, "reason": "scripted fake"}
    if system == BATCH_UPDATE_PROMPT:
        newest = newest_lines(prompt)
        return {
            "decisions": [
                {
                    "target": n,
                    "action": "update",
                    "text": newest.get(n, "updated"),
                    "reason": "scripted fake",
                }
                for n in target_numbers(prompt)
            ]
        }
    return plausible_reply(messages, schema)


class PlausibleOptions(ScriptedOptions):
    model: str = "plausible"
    decide: Literal["ignore", "update"] = Field(
        "ignore", description="what consolidation calls answer for every target"
    )
    delay_s: float = Field(0.0, ge=0.0, le=60.0, description="seconds each call sleeps")


class PlausibleLLM(ScriptedLLM):
    """``llm.plausible``: the endless bench fake as a registered backend."""

    mode: ClassVar[str] = "plausible"
    Options: ClassVar[type[BaseModel]] = PlausibleOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        super().__init__(options if options is not None else PlausibleOptions())
        opts = self.options
        assert isinstance(opts, PlausibleOptions)
        base = updating_reply if opts.decide == "update" else plausible_reply
        delay = opts.delay_s

        def respond(
            messages: list[ChatMessage], schema: dict[str, Any] | None
        ) -> str | dict[str, Any]:
            if delay:
                time.sleep(delay)
            return base(messages, schema)

        self.respond_with(respond)
