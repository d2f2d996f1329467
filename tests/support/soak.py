"""Reliability tests: crash, concurrency, bad LLM output, API fuzzing, storage faults.

Everything here runs in ``make test`` with bounded sizes. ``LIGHTMEM_SOAK=1`` scales the
loops up (see :func:`scaled`) and runs the tests marked ``soak``, which are skipped otherwise.
"""

from __future__ import annotations

import os

import pytest

SOAK_ENV = "LIGHTMEM_SOAK"


def soak() -> bool:
    """True when long soaks were asked for (``LIGHTMEM_SOAK=1``)."""
    return os.environ.get(SOAK_ENV, "").strip() not in ("", "0", "false", "no")


def scaled(ci: int, long: int) -> int:
    """``ci`` in a normal run, ``long`` under ``LIGHTMEM_SOAK=1``."""
    return long if soak() else ci


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"soak: long soak test, run only with {SOAK_ENV}=1 (skipped otherwise)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if soak():
        return
    skip = pytest.mark.skip(reason=f"long soak: set {SOAK_ENV}=1 to run it")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
