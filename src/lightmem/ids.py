"""Ids of turns, memories, segments and batches: 32 hex digits, as ``uuid4().hex`` was, that
sort in the order they were made (48 bits of milliseconds since the epoch, 16 bits counting
within the millisecond, then 64 random bits, as UUIDv7 orders them).

Where two memories carry the same time (the turns of one LoCoMo session share its date; an
extraction batch stores its facts at one instant), the id is the last tie-break of every
"which is newer" in the code (consolidation, a replacement chain, the proxy's stable block):
with random ids that tie-break was a coin toss, so one conversation could consolidate one
way in one run and another way in the next. Within a process the ids are strictly rising,
also when the clock steps back; between processes they rise with the clock.
"""

from __future__ import annotations

import os
import threading
import time

_LOCK = threading.Lock()
_last = (0, 0)  # (milliseconds, counter) of the last id made


def new_id() -> str:
    global _last
    with _LOCK:
        ms, n = time.time_ns() // 1_000_000, 0
        last_ms, last_n = _last
        if ms <= last_ms:  # the same millisecond, or a clock that stepped back
            ms, n = last_ms, last_n + 1
            if n > 0xFFFF:
                ms, n = last_ms + 1, 0
        _last = (ms, n)
    return f"{ms:012x}{n:04x}{os.urandom(8).hex()}"
