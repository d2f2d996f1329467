"""Failures a user can read: where a batch, a consolidation decision or the background
worker failed, when, and the message, never user text.

Every failure is logged at warning level and kept in the store's meta table under
``failures`` (the last :data:`LOG_SIZE`), so another process (``lightmem stats``) sees it.
Messages come from providers (an HTTP error) and validators (a JSON error), which may echo
what they were sent: :func:`scrub` removes any run of words that appears in the texts the
failing call carried, and bounds the length.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from lightmem.errors import LightMemError, ProviderError
from lightmem.stores.base import Store
from lightmem.text import REDACTED, scrub
from lightmem.timeutil import format_timestamp, parse_timestamp
from lightmem.types import Failure, FailureWhere, LLMCall, Turn

log = logging.getLogger(__name__)

META_KEY = "failures"
#: Store meta: the LLM outage a process found, while it lasts (see ``lightmem.llm.circuit``).
LLM_DOWN_KEY = "llm_unreachable"
LOG_SIZE = 10
MESSAGE_LIMIT = 300
__all__ = ["REDACTED", "FailureLog", "describe", "scrub", "turn_texts"]


def turn_texts(turns: Iterable[Turn]) -> list[str]:
    """What of the turns is private: each speaker, original text and compressed view."""
    out: list[str] = []
    for t in turns:
        out += [t.label, t.content] if t.view == t.content else [t.label, t.content, t.view]
    return out


def describe(exc: BaseException, private: Iterable[str] | None) -> str:
    """The exception as ``Type: message``, scrubbed of ``private``; with ``private`` unknown
    (``None``) only the type is safe to show."""
    if private is None:
        return f"{type(exc).__name__} (message withheld: the texts to scrub were unavailable)"
    return scrub(f"{type(exc).__name__}: {exc}", private, MESSAGE_LIMIT)


class FailureLog:
    """The store's bounded failure log. One per ``Memory``, shared by its stages; the lock
    orders this process's writers (two processes writing at once may lose one entry)."""

    def __init__(self, store: Store, size: int = LOG_SIZE) -> None:
        self.store = store
        self.size = size
        self._lock = threading.Lock()

    def record(self, where: FailureWhere, message: str, ref: str | None = None) -> Failure:
        """Log the failure at warning level and keep it in the store. If the store cannot
        take it (it may be why things fail), the warning is the record."""
        failure = Failure(where, message, _now(), ref)
        if where == "llm":  # the outage's message says what failed itself
            log.warning("%s", message)
        else:
            log.warning("%s%s failed: %s", where, f" {ref}" if ref else "", message)
        try:
            with self._lock:
                kept = [*self.entries(), failure][-self.size :]
                self.store.set_meta(META_KEY, json.dumps([_to_json(f) for f in kept]))
        except LightMemError as exc:
            log.warning("the failure above could not be stored: %s", type(exc).__name__)
        return failure

    def entries(self) -> list[Failure]:
        """The logged failures, oldest first."""
        return read_log(self.store)


def read_log(store: Store) -> list[Failure]:
    raw = store.get_meta(META_KEY)
    try:
        items = json.loads(raw) if raw else []
        return [_from_json(x) for x in items if isinstance(x, dict)]
    except (ValueError, KeyError, TypeError):
        log.warning("the stored failure log is unreadable; it restarts empty")
        return []


def recent_failures(store: Store, limit: int = LOG_SIZE) -> list[Failure]:
    """The last failures that still hold, newest first: the log, with one line per failed
    extraction batch (its newest), whose message and attempts come from the batch. A batch
    extracted since (or erased) and an LLM outage that ended are left out, so the list never
    contradicts the counts beside it. Failed batches that left the log are listed after it,
    without a time."""
    failed = {b.id: b for b in store.list_batches(statuses=("failed",))}
    outage = bool(store.get_meta(LLM_DOWN_KEY))
    out: list[Failure] = []
    seen: set[str] = set()
    for f in reversed(read_log(store)):
        if f.where == "llm" and not outage:
            continue
        if f.where == "extraction" and f.ref is not None:
            if f.ref in seen:
                continue
            seen.add(f.ref)
            batch = failed.get(f.ref)
            if batch is None:
                continue  # extracted since, or erased
            f.message = batch.last_error or f.message
            f.attempts = batch.attempts
        out.append(f)
    for batch in failed.values():
        if batch.id not in seen:
            out.append(
                Failure("extraction", batch.last_error or "", None, batch.id, batch.attempts)
            )
    return out[:limit]


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def _to_json(f: Failure) -> dict[str, Any]:
    return {"where": f.where, "ref": f.ref, "at": format_timestamp(f.at), "message": f.message}


def _from_json(x: dict[str, Any]) -> Failure:
    at = parse_timestamp(x["at"]) if x.get("at") else None
    return Failure(x["where"], str(x["message"]), at, x.get("ref"))


def record_transport_failure(store: Store, stage: str, exc: Exception) -> None:
    """A call that never returned a completion (endpoint down, 429/5xx after retries) is
    recorded as a failed call, so it shows in ``usage()`` like a rejected reply does."""
    if isinstance(exc, ProviderError) or isinstance(exc.__cause__, ProviderError):
        # the completions that did come back were recorded by on_call already
        store.record_llm_call(LLMCall(stage, 0, 0, 0.0, False))
