"""A circuit breaker in front of the LLM: once a call finds the endpoint unreachable (the
connection refused or timed out), no call is made for ``cooldown`` seconds; each is refused
at once with :class:`CircuitOpenError`, and the work that needed it waits (a batch stays
pending, a consolidation pair queued). After the cool-down one call tries the endpoint
again (the calls made meanwhile wait for its outcome); :meth:`GuardedLLM.retry_now` lets a
``flush`` try at once. Any answer closes the circuit, an error answer included: the endpoint
is reachable.

The pipeline wraps its LLM in one :class:`GuardedLLM`, so extraction, consolidation and
summaries share the circuit, and a dead endpoint costs one timed-out call, not one per batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

from lightmem.errors import UnreachableError
from lightmem.llm.base import LLM, ChatMessage, Completion

LLMState = Literal["ok", "unreachable", "off"]


@dataclass(frozen=True, slots=True)
class LLMStatus:
    """Whether the LLM is used and reachable: ``ok``, ``unreachable`` (calls wait for the
    cool-down) or ``off`` (no-LLM mode). ``message`` says what failed and what to check."""

    state: LLMState
    message: str | None = None
    since: datetime | None = None
    retry_at: datetime | None = None


class CircuitOpenError(UnreachableError):
    """Refused without a call: the endpoint was found unreachable and the cool-down runs."""


class GuardedLLM(LLM):
    """``inner`` behind the circuit. ``on_open(message)`` is called when the circuit opens
    (once per outage, not per call), ``on_close()`` when a call gets through again (and at
    the first call that gets through in this process)."""

    mode: ClassVar[str] = "guarded"

    def __init__(
        self,
        inner: LLM,
        *,
        cooldown: float,
        on_open: Callable[[str], None] | None = None,
        on_close: Callable[[], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(inner.options)
        self.inner = inner
        self.cooldown = cooldown
        self._on_open, self._on_close = on_open, on_close
        self._clock = clock
        self._lock = threading.Condition()
        self._open_until: float | None = None  # None: closed
        self._probing = False
        self._since: datetime | None = None
        self._message: str | None = None
        self._answered = False  # whether a call got through in this process yet
        self._checked = False  # whether preflight ran

    # -- what callers read of the inner backend ---------------------------------------------
    @property
    def model_name(self) -> str:
        return self.inner.model_name

    @property
    def context_tokens(self) -> int | None:
        return self.inner.context_tokens

    @property
    def caveat(self) -> str | None:
        return self.inner.caveat

    def close(self) -> None:
        """The inner backend belongs to whoever built it; nothing to release here."""

    def unreachable(self) -> str | None:
        return self.inner.unreachable()

    def preflight(self) -> None:
        """Once per process, before any call got through: a quick check of the endpoint
        (:meth:`LLM.unreachable`) that opens the circuit when it cannot be reached at all,
        so work that only pays off with an LLM can be left out from the start."""
        with self._lock:
            if self._checked or self._answered or self._open_until is not None:
                return
            self._checked = True
        failure = self.inner.unreachable()
        if failure is not None:
            self._trip(UnreachableError(failure))

    # -- the circuit --------------------------------------------------------------------------
    def complete(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        self._admit()
        try:
            completion = self.inner.complete(messages, schema=schema, max_tokens=max_tokens)
        except UnreachableError as exc:
            self._trip(exc)
            raise
        except Exception:
            self._reached()  # an error answer still came from the endpoint
            raise
        except BaseException:  # interrupted: the next call tries the endpoint
            with self._lock:
                self._probing = False
                self._lock.notify_all()
            raise
        self._reached()
        return completion

    def retry_now(self) -> None:
        """End the cool-down: the next call tries the endpoint (a flush asks for this)."""
        with self._lock:
            if self._open_until is not None and not self._probing:
                self._open_until = self._clock()

    def status(self) -> LLMStatus:
        with self._lock:
            if self._open_until is None:
                return LLMStatus("ok")
            left = max(0.0, self._open_until - self._clock())
            retry_at = _now() + timedelta(seconds=left)
            return LLMStatus("unreachable", self._message, self._since, retry_at)

    def _admit(self) -> None:
        with self._lock:
            # a call made while another tries the endpoint waits for that one's outcome
            self._lock.wait_for(lambda: not self._probing)
            if self._open_until is None:
                return
            if self._clock() < self._open_until:
                raise CircuitOpenError(self._message or "the LLM endpoint is unreachable")
            self._probing = True  # this call tries the endpoint

    def _trip(self, exc: UnreachableError) -> None:
        with self._lock:
            first = self._open_until is None
            self._open_until = self._clock() + self.cooldown
            self._probing = False
            self._lock.notify_all()
            if first:
                self._since = _now()
                self._message = outage_message(str(exc), self.cooldown)
            message = self._message
        if first and self._on_open is not None and message is not None:
            self._on_open(message)

    def _reached(self) -> None:
        with self._lock:
            # the first answer in a process also ends an outage another process recorded
            tell = self._open_until is not None or not self._answered
            self._open_until, self._probing, self._answered = None, False, True
            self._since = self._message = None
            self._lock.notify_all()
        if tell and self._on_close is not None:
            self._on_close()


def outage_message(failure: str, cooldown: float) -> str:
    """The one message of an outage: what failed and where, what to check, what happens to
    the work meanwhile."""
    return (
        f"The LLM endpoint could not be reached: {failure}. Check that the server runs and "
        f"that OPENAI_BASE_URL (or llm.options.base_url) points at it; `lightmem doctor` "
        f"tests it. Nothing is lost: the turns wait in the store as pending batches, no "
        f"call is made for {cooldown:g} s at a time, and `lightmem flush` (POST /v1/flush) "
        f"tries again at once"
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
