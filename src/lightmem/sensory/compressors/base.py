"""The compressor interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from pydantic import BaseModel, ConfigDict


class CompressorOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Compressor(ABC):
    Options: ClassVar[type[BaseModel]] = CompressorOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def compress(self, texts: list[str]) -> list[str]:
        """Return one compressed view per input text, in order."""
