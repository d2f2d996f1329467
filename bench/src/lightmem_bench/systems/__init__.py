"""The systems a benchmark compares, by the name ``--system`` takes."""

from __future__ import annotations

from lightmem.errors import InputError
from lightmem_bench.systems.base import (
    BuildReport,
    BuiltMemory,
    System,
    SystemSettings,
    Unit,
)
from lightmem_bench.systems.full_text import FullTextSystem
from lightmem_bench.systems.lightmem import LightMemSystem
from lightmem_bench.systems.naive_rag import NaiveRAGSystem
from lightmem_bench.systems.per_turn import PerTurnSystem

SYSTEMS: dict[str, type[System]] = {
    cls.name: cls for cls in (LightMemSystem, NaiveRAGSystem, FullTextSystem, PerTurnSystem)
}

__all__ = [
    "SYSTEMS",
    "BuildReport",
    "BuiltMemory",
    "System",
    "SystemSettings",
    "Unit",
    "make_system",
]


def make_system(name: str, settings: SystemSettings) -> System:
    try:
        cls = SYSTEMS[name]
    except KeyError:
        raise InputError(f"unknown system {name!r}; use one of: {', '.join(SYSTEMS)}") from None
    return cls(settings)
