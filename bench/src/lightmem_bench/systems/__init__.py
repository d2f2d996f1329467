"""The systems a benchmark compares, by the name ``--system`` takes."""

from __future__ import annotations

from lightmem.bench.systems.base import (
    BuildReport,
    BuiltMemory,
    System,
    SystemSettings,
    Unit,
)
from lightmem.bench.systems.full_text import FullTextSystem
from lightmem.bench.systems.lightmem import LightMemSystem
from lightmem.bench.systems.naive_rag import NaiveRAGSystem
from lightmem.bench.systems.per_turn import PerTurnSystem
from lightmem.errors import InputError

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
