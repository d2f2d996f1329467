"""Compatibility with the upstream zjunlp/LightMem API: change the import, keep the code."""

from lightmem.compat.config_map import MappedConfig, map_config
from lightmem.compat.upstream import (
    DEFAULT_USER_ID,
    AddMemoryResult,
    LightMemory,
    UpstreamCompatWarning,
)

__all__ = [
    "DEFAULT_USER_ID",
    "AddMemoryResult",
    "LightMemory",
    "MappedConfig",
    "UpstreamCompatWarning",
    "map_config",
]
