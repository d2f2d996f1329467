"""Upstream LightMem's import path, ``from lightmem.memory.lightmem import LightMemory``,
kept working: :mod:`lightmem.memory` lists this folder as its ``__path__``, so the import
lands here and gets :class:`lightmem.compat.LightMemory`, with a warning that names the
import to use instead."""

from __future__ import annotations

import warnings

from lightmem.compat import LightMemory, UpstreamCompatWarning

__all__ = ["LightMemory"]

warnings.warn(
    "lightmem.memory.lightmem is upstream LightMem's module path; this project's "
    "LightMemory is the same class: `from lightmem.compat import LightMemory` (docs/compat.md)",
    UpstreamCompatWarning,
    stacklevel=2,
)
