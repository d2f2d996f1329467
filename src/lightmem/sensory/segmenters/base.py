"""The segmenter interface.

A segmenter sees the buffered turns of one owner (in order) with their embeddings and
returns the indices at which a new segment starts. Index 0 is implied. The pipeline keeps
the residual after the last boundary in the buffer unless it is forced to flush.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from lightmem.embedders.base import Vectors
from lightmem.types import Turn


class SegmenterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Segmenter(ABC):
    Options: ClassVar[type[BaseModel]] = SegmenterOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @property
    def lookahead(self) -> int:
        """Turns a boundary needs after it to be judged (the pipeline keeps a cut nearer
        the buffer's end for the next pass)."""
        return 0

    @abstractmethod
    def boundaries(self, turns: list[Turn], embeddings: Vectors) -> list[int]:
        """Sorted indices ``i`` (0 < i < len(turns)) where a new topic segment starts."""
