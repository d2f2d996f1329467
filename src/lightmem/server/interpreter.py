"""The interpreter of a server process, set for the latency of many small requests.

A server's requests share one interpreter lock, and two of CPython's defaults make every
other tenant wait for one tenant's large operation:

* *Full garbage collections in allocation bursts.* CPython collects its oldest generation
  once allocations have grown it by a quarter, holding the lock for as long as it walks the
  heap. Decoding one large tenant's rows (a forget or a first search over 40,000 memories:
  some 400,000 objects) set off four or five of them, 25 to 110 ms each. A server leaves the
  young generations to their own thresholds (cheap, and where most reference cycles die)
  and, every :data:`INTERVAL_S` seconds on a thread of its own, collects them once more and
  freezes what survives (``gc.freeze``: objects are still freed when no longer referenced,
  only the cycle search skips them). That tick never walks the old generation: the first
  tick after a large tenant's index was built walked its 400,000 new objects, 90 ms in
  one go. Every :data:`FULL_EVERY` ticks the heap is thawed and walked whole, so that
  cycles among old objects are freed too.
* *A 5 ms switch interval.* A request that waits for I/O a few times waits for the lock
  after each, up to the interval each time, while another thread computes. A server uses
  :data:`SWITCH_S`: the computing thread is the one that waits, a fraction of a millisecond
  each time another request needs the lock (a 40k owner's index was built in the same time).

Another tenant's ``GET /v1/me`` p95 while a 40,000-memory tenant forgot 1,700 memories:
285 ms with the defaults, 55 ms with the collections on a clock, 16 ms with a 1 ms switch
interval too, 8 ms with 0.2 ms (4 ms idle). ``serve``, ``mcp`` and ``proxy`` set it; a
library user's process keeps its own.
"""

from __future__ import annotations

import gc
import sys
import threading

#: Seconds between two collections of the old generation.
INTERVAL_S = 60.0
#: One tick in this many walks the whole heap (the others only the young generations).
FULL_EVERY = 10
#: A threshold the old generation's count never reaches.
NEVER = 2**31 - 1
#: The interpreter's switch interval in a server, seconds.
SWITCH_S = 0.0002


class ServerInterpreter:
    """Sets the policy above; :meth:`stop` gives the interpreter's own back."""

    def __init__(self, interval_s: float = INTERVAL_S, full_every: int = FULL_EVERY) -> None:
        self.interval_s = interval_s
        self.full_every = full_every
        self._stop = threading.Event()
        self._threshold = gc.get_threshold()
        self._switch = sys.getswitchinterval()
        young, middle, _ = self._threshold
        gc.set_threshold(young, middle, NEVER)
        sys.setswitchinterval(SWITCH_S)
        self._thread = threading.Thread(target=self._loop, name="lightmem-gc", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        ticks = 0
        while not self._stop.wait(self.interval_s):
            ticks += 1
            if ticks % self.full_every == 0:
                gc.unfreeze()
                gc.collect()
            else:
                gc.collect(1)
            gc.freeze()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        gc.unfreeze()
        gc.set_threshold(*self._threshold)
        sys.setswitchinterval(self._switch)
