"""The identity compressor: the compressed view is the original text."""

from __future__ import annotations

from lightmem.sensory.compressors.base import Compressor


class NoCompressor(Compressor):
    def compress(self, texts: list[str]) -> list[str]:
        return list(texts)
