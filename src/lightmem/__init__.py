"""LightMem: lightweight, efficient long-term memory for LLM applications and agents."""

from lightmem.config import MemoryConfig
from lightmem.errors import (
    ConfigError,
    ExtractionError,
    InputError,
    LightMemError,
    NotFoundError,
    ProviderError,
    StorageError,
)
from lightmem.memory import Memory
from lightmem.types import Entry, Hit, Turn

__all__ = [
    "ConfigError",
    "Entry",
    "ExtractionError",
    "Hit",
    "InputError",
    "LightMemError",
    "Memory",
    "MemoryConfig",
    "NotFoundError",
    "ProviderError",
    "StorageError",
    "Turn",
]
__version__ = "0.1.0"
