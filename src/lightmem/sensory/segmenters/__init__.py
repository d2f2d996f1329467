"""Topic segmenters: cut the sensory buffer into topic segments."""

from lightmem.sensory.segmenters.base import Segmenter

__all__ = ["Segmenter"]
