"""The OpenAI Agents SDK over LightMem: :class:`LightMemSession`, a ``Session`` whose items
are turns of one LightMem session, and :meth:`LightMemSession.context_callback`, a ready
``session_input_callback`` that puts the user's ``context()`` block before the history
(``pip install 'lightmem[agents]'``).

    session = LightMemSession("chat-42", memory, user_id="alice")
    config = RunConfig(session_input_callback=session.context_callback(budget_tokens=600))
    result = await Runner.run(agent, "Where did I park?", session=session, run_config=config)

A message item (``user``, ``assistant``, ``system``/``developer``, text content) is a turn
of that role with its text, and comes back as ``{"role", "content"}``; any other item (a
function call, its output, reasoning, a message with images) is a ``tool`` turn holding the
item's JSON, and comes back as it was. The turns go through the pipeline like any other:
extraction turns them into long-term memories. ``pop_item`` and ``clear_session`` erase
turns for good; memories already drawn from them stay (``forget`` them). The block the
callback adds is never stored as an item.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from lightmem.errors import InputError, MissingDependencyError
from lightmem.memory import Memory
from lightmem.retrieval.query import MEMORY_PREAMBLE, memory_query, text_of
from lightmem.scoped import ScopedMemory
from lightmem.types import Turn

try:
    from agents.items import TResponseInputItem
    from agents.memory import SessionSettings
except ImportError as exc:  # pragma: no cover - exercised with the package hidden
    raise MissingDependencyError("openai-agents", extra="agents") from exc

__all__ = ["LightMemSession"]

#: Turn role of each message role the SDK uses.
ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
TEXT_PARTS = frozenset({"input_text", "output_text", "text"})
#: A ``tool`` turn holding an item that is not a plain message starts with this.
ITEM_MARK = "[agents item] "

Callback = Callable[[list[Any], list[Any]], Awaitable[list[Any]]]


class LightMemSession:
    """An Agents SDK ``Session`` (``get_items``, ``add_items``, ``pop_item``,
    ``clear_session``) kept as turns of the session ``session_id`` of one scope."""

    def __init__(
        self,
        session_id: str,
        memory: Memory | ScopedMemory,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
        session_settings: SessionSettings | None = None,
    ) -> None:
        if isinstance(memory, Memory):
            memory = memory.as_scope(user_id=user_id, agent_id=agent_id)
        self.view = memory
        self.scope = memory.where(user_id, agent_id, session_id).owner
        self.session_id = session_id
        self.session_settings = session_settings

    # -- Session ----------------------------------------------------------------------------
    async def get_items(self, limit: int | None = None) -> list[TResponseInputItem]:
        turns = await asyncio.to_thread(self._turns)
        items = [item_of(t) for t in turns]
        if limit is not None:
            items = items[-limit:] if limit > 0 else []
        return items

    async def add_items(self, items: list[TResponseInputItem]) -> None:
        messages = [turn_of(i) for i in items if not is_context_block(i)]
        if messages:
            await asyncio.to_thread(
                self.view.add, messages, pool=self.scope, run_id=self.session_id
            )

    async def pop_item(self) -> TResponseInputItem | None:
        turns = await asyncio.to_thread(self._turns)
        if not turns:
            return None
        await asyncio.to_thread(self._erase, [turns[-1].id], "agents session pop_item")
        return item_of(turns[-1])

    async def clear_session(self) -> None:
        turns = await asyncio.to_thread(self._turns)
        if turns:
            await asyncio.to_thread(
                self._erase, [t.id for t in turns], "agents session clear_session"
            )

    # -- memory -----------------------------------------------------------------------------
    def context_callback(
        self, *, budget_tokens: int | None = None, query_turns: int = 3
    ) -> Callback:
        """A ``session_input_callback``: the history and the new input, after the user's
        ``context()`` block (a system message) for the last ``query_turns`` user turns."""

        async def combine(history: list[Any], new_items: list[Any]) -> list[Any]:
            messages = [i for i in [*history, *new_items] if isinstance(i, dict)]
            query = memory_query(messages, query_turns)
            if not query:
                return [*history, *new_items]
            # what the history and the input hold is not quoted again (as kept: an item
            # that is not a plain message is its JSON)
            said = [text for i in messages if (text := _kept_text(i)) is not None]
            found = await asyncio.to_thread(
                partial(self.view.context, pool=self.scope, in_prompt=said),
                query,
                budget_tokens=budget_tokens,
            )
            if not found.items:
                return [*history, *new_items]
            block = {"role": "system", "content": f"{MEMORY_PREAMBLE}\n\n{found.text}"}
            return [block, *history, *new_items]

        return combine

    def _turns(self) -> list[Turn]:
        return self.view.turns(pool=self.scope, session_id=self.session_id)

    def _erase(self, turn_ids: list[str], cause: str) -> None:
        self.view.erase_turns(turn_ids, pool=self.scope, cause=cause)


def is_context_block(item: Any) -> bool:
    """The block :meth:`LightMemSession.context_callback` added: never an item to keep."""
    return (
        isinstance(item, dict)
        and item.get("role") == "system"
        and isinstance(item.get("content"), str)
        and item["content"].startswith(MEMORY_PREAMBLE)
    )


def turn_of(item: Any) -> dict[str, Any]:
    """The turn (a message dict for ``add``) that keeps ``item``."""
    if not isinstance(item, dict):
        raise InputError(f"a session item is a JSON object, got {type(item).__name__}")
    if _plain(item):
        return {"role": ROLES[item["role"]], "content": text_of(item)}
    try:
        raw = json.dumps(item, ensure_ascii=False, sort_keys=True)
    except (TypeError, ValueError) as exc:
        raise InputError(f"a session item must be JSON: {exc}") from None
    return {"role": "tool", "content": ITEM_MARK + raw}


def _kept_text(item: dict[str, Any]) -> str | None:
    """The text of the turn that keeps ``item`` (None: it cannot be kept)."""
    try:
        return str(turn_of(item)["content"])
    except InputError:
        return None


def item_of(turn: Turn) -> Any:
    """The item a turn keeps: a plain message, or the stored JSON of any other item."""
    if turn.role == "tool" and turn.content.startswith(ITEM_MARK):
        return json.loads(turn.content[len(ITEM_MARK) :])
    return {"role": turn.role, "content": turn.content}


def _plain(item: dict[str, Any]) -> bool:
    """A message with a role and only text: kept as a turn of that role."""
    if item.get("role") not in ROLES or item.get("type", "message") != "message":
        return False
    content = item.get("content")
    if isinstance(content, str):
        return bool(content.strip())
    return (
        isinstance(content, list)
        and bool(content)
        and all(isinstance(p, dict) and p.get("type") in TEXT_PARTS for p in content)
        and bool(text_of(item).strip())
    )
