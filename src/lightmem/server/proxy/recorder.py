"""Recording the conversation: the user's latest message before the request goes upstream
(so it is kept whatever the upstream does), the assistant's reply once it is complete,
reassembled from the event stream when the client streams. Both are turns of the session,
added through the caller's scoped view; extraction runs in the background."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from lightmem.retrieval.query import text_of
from lightmem.scoped import ScopedMemory
from lightmem.types import Scope


@dataclass(frozen=True, slots=True)
class Recorder:
    """Adds turns to one session of one scope."""

    view: ScopedMemory
    scope: Scope
    session: str

    def user(
        self, messages: list[dict[str, Any]], idempotency_key: str | None, raw: bytes
    ) -> list[str]:
        """The request's last message when it is the user's (a tool result is not a turn),
        stored once per request: by ``idempotency_key`` when the client sends one, else by
        the request's body as it came (``raw``, :func:`request_key`), so a client's retry
        of a request that failed upstream, or a "regenerate", does not store it again."""
        if not messages or messages[-1].get("role") != "user":
            return []
        last = messages[-1]
        name = last.get("name")
        key = idempotency_key or request_key(self.session, raw)
        return self._add("user", text_of(last), name, key)

    def reply(self, text: str) -> list[str]:
        return self._add("assistant", text, None, None)

    def _add(self, role: str, text: str, name: Any, key: str | None) -> list[str]:
        if not text.strip():
            return []
        message: dict[str, Any] = {"role": role, "content": text}
        if isinstance(name, str) and name.strip():
            message["name"] = name
        added = self.view.add(
            [message],
            user_id=self.scope.user_id,
            agent_id=self.scope.agent_id,
            run_id=self.session,
            idempotency_key=key,
        )
        return list(added.turn_ids)


def request_key(session: str, raw: bytes) -> str:
    """An idempotency key for a request that came without one: a digest of its session and
    its body, byte for byte (a client retries with the bytes it sent). An app that resends
    its history sends another body with each new message (the replies between differ), so
    only a repeat of the same request shares it; an app that sends its last message alone
    repeats a message it sent before only as the same request, and that is stored once."""
    both = hashlib.blake2b(session.encode("utf-8", "surrogatepass"), digest_size=16)
    both.update(b"\0" + raw)
    return "proxy-request-" + both.hexdigest()


def reply_text(body: dict[str, Any]) -> str:
    """The assistant's text in a chat completion (the first choice)."""
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    message = choices[0].get("message")
    return text_of(message) if isinstance(message, dict) else ""


class StreamText:
    """The assistant's text, reassembled from a chat-completion event stream as its chunks
    pass through (``data: {json}`` lines; the first choice's ``delta.content``)."""

    def __init__(self) -> None:
        self._pending = b""
        self._parts: list[str] = []
        self.error: str | None = None
        self.done = False  # the ``data: [DONE]`` event came
        self.finished = False  # the first choice came with its ``finish_reason``

    @property
    def text(self) -> str:
        return "".join(self._parts)

    @property
    def complete(self) -> bool:
        """The reply is whole: the ``[DONE]`` event came, or the first choice's
        ``finish_reason`` (some servers send no ``[DONE]``)."""
        return self.done or self.finished

    def feed(self, chunk: bytes) -> None:
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        for line in lines:
            self._line(line.strip())

    def _line(self, line: bytes) -> None:
        if not line.startswith(b"data:"):
            return
        data = line[5:].strip()
        if data == b"[DONE]":
            self.done = True
            return
        try:
            event = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            return
        if not isinstance(event, dict):
            return
        if event.get("error") is not None:
            self.error = "the upstream sent an error event"
        for choice in event.get("choices") or []:
            if isinstance(choice, dict) and choice.get("index", 0) == 0:
                self.finished = self.finished or choice.get("finish_reason") is not None
                delta = choice.get("delta")
                content = delta.get("content") if isinstance(delta, dict) else None
                if isinstance(content, str):
                    self._parts.append(content)
