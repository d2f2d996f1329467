"""Pre-compressors: produce a compressed view of each turn; the original is never overwritten."""

from lightmem.sensory.compressors.base import Compressor

__all__ = ["Compressor"]
