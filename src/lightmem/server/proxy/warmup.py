"""Idle-time work of the proxy: once a reply is recorded, one background thread waits for
the pipeline and rebuilds that user's search indexes, so the next request's ``context()``
finds them current (the user's think time pays for the rebuild, not the next request)."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

from lightmem.errors import LightMemError
from lightmem.memory import Memory
from lightmem.types import Scope

log = logging.getLogger("lightmem.server.proxy")


class Warmer:
    def __init__(self, memory: Memory) -> None:
        self.memory = memory
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="lightmem-proxy-warmup")
        self._queued: set[Scope] = set()
        self._lock = threading.Lock()

    def after_write(self, owner: Scope) -> None:
        """Queue the owner's warm-up (once, however many writes come meanwhile)."""
        with self._lock:
            if owner in self._queued:
                return
            self._queued.add(owner)
        self._pool.submit(self._warm, owner)

    def _warm(self, owner: Scope) -> None:
        with self._lock:
            self._queued.discard(owner)
        try:
            self.memory.wait()
            self.memory.retriever.prepare(owner)
        except LightMemError as exc:  # nothing is lost: the next request builds them itself
            log.warning("search index warm-up failed: %s", type(exc).__name__)

    def wait(self) -> None:
        """Until every queued warm-up is done (the queue runs in order)."""
        self._pool.submit(lambda: None).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True)
