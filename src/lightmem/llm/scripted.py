"""The test LLM: replays queued replies and fails loudly when the queue runs dry.

Like simonw/llm's ``MockModel``, it is a real backend registered through the same entry
points as the others (``llm.scripted``), so tests drive the real pipeline with it::

    llm = ScriptedLLM().enqueue({"facts": []}, "not json", ProviderError("boom"))

A reply is a ``str`` (returned as is), a ``dict``/``list`` (JSON-encoded), a
:class:`Completion` (returned as is, to script token usage) or an exception instance (raised
when reached). Every call is recorded in ``calls``. ``respond_with(fn)`` installs a fallback
used when the queue is empty, for benchmarks that need an endless fake.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel, Field

from lightmem.errors import ProviderError
from lightmem.llm.base import LLM, ChatMessage, Completion, LLMOptions
from lightmem.tokens import count_tokens

Reply = str | dict[str, Any] | list[Any] | Completion | BaseException
#: ``fn(messages, schema)`` -> the reply text, or a dict/list to JSON-encode.
Responder = Callable[[list[ChatMessage], dict[str, Any] | None], str | dict[str, Any] | list[Any]]


class ScriptedOptions(LLMOptions):
    replies: list[Any] = Field(default_factory=list)
    model: str = "scripted"


@dataclass(frozen=True, slots=True)
class ScriptedCall:
    """One recorded call to :meth:`ScriptedLLM.complete`."""

    messages: list[ChatMessage]
    schema: dict[str, Any] | None
    max_tokens: int | None


class ScriptedLLM(LLM):
    mode: ClassVar[str] = "scripted"
    Options: ClassVar[type[BaseModel]] = ScriptedOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        super().__init__(options)
        self._lock = threading.Lock()
        self._queue: deque[Reply] = deque()
        self._responder: Responder | None = None
        self.calls: list[ScriptedCall] = []
        self.enqueue(*getattr(self.options, "replies", []))

    def enqueue(self, *replies: Reply) -> Self:
        """Append replies to the queue; returns ``self`` so construction can chain."""
        for reply in replies:
            if not isinstance(reply, str | dict | list | Completion | BaseException):
                raise TypeError(
                    f"a scripted reply must be a str, dict, list, Completion or exception, "
                    f"not {type(reply).__name__}"
                )
        with self._lock:
            self._queue.extend(replies)
        return self

    def respond_with(self, fn: Responder | None) -> Self:
        """Use ``fn(messages, schema)`` whenever the queue is empty (``None`` removes it)."""
        with self._lock:
            self._responder = fn
        return self

    @property
    def pending(self) -> int:
        """Replies still queued."""
        with self._lock:
            return len(self._queue)

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        start = time.perf_counter()
        with self._lock:
            self.calls.append(ScriptedCall(list(messages), schema, max_tokens))
            reply: Reply | None = self._queue.popleft() if self._queue else None
            responder = self._responder
            consumed = len(self.calls) - 1
        if reply is None:
            if responder is None:
                last = messages[-1].content[:200] if messages else ""
                raise ProviderError(
                    f"scripted LLM queue is empty: {consumed} replies were consumed; enqueue "
                    f"more or set a responder (last message: {last!r})"
                )
            reply = responder(messages, schema)
        if isinstance(reply, BaseException):
            raise reply
        if isinstance(reply, Completion):
            return reply
        text = reply if isinstance(reply, str) else json.dumps(reply)
        return Completion(
            text=text,
            tokens_in=sum(count_tokens(m.content) for m in messages),
            tokens_out=count_tokens(text),
            seconds=time.perf_counter() - start,
            model=self.model_name,
        )
