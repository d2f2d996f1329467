"""Long soaks: the reliability tests (crash, concurrency, bad LLM output, API fuzzing, storage
faults) run in ``make test`` with bounded sizes. ``LIGHTMEM_SOAK=1`` scales the
loops up (see :func:`scaled`) and runs the tests marked ``soak``, which are skipped otherwise.
"""

from __future__ import annotations

import os

SOAK_ENV = "LIGHTMEM_SOAK"


def soak() -> bool:
    """True when long soaks were asked for (``LIGHTMEM_SOAK=1``)."""
    return os.environ.get(SOAK_ENV, "").strip() not in ("", "0", "false", "no")


def scaled(ci: int, long: int) -> int:
    """``ci`` in a normal run, ``long`` under ``LIGHTMEM_SOAK=1``."""
    return long if soak() else ci
