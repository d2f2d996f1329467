"""The embedder interface: a batch of texts in, an L2-normalised float32 matrix out."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict

Vectors = npt.NDArray[np.float32]
#: what :meth:`Embedder.warm` loads: all, what a query needs, what a batch of many texts needs
Warm = Literal["all", "queries", "batches"]


class EmbedderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Embedder(ABC):
    Options: ClassVar[type[BaseModel]] = EmbedderOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @property
    @abstractmethod
    def dim(self) -> int:
        """Vector dimension."""

    @property
    @abstractmethod
    def model_id(self) -> str:
        """Identifies the vector space; a store refuses to reopen with another one."""

    @abstractmethod
    def embed(self, texts: list[str]) -> Vectors:
        """Return an ``(len(texts), dim)`` float32 array with unit-norm rows."""

    def warm(self, what: Warm = "all") -> None:  # noqa: B027 - optional hook
        """Load what the first ``embed`` would (a local model), ahead of it: for a query
        (a call of one text or a few), for a batch of many texts, or for both (a server
        calls it while it starts). A remote embedder has nothing to load."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources."""


def normalize(v: npt.NDArray[np.floating]) -> Vectors:
    """Row-normalise to unit length (zero rows stay zero)."""
    arr = np.asarray(v, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (arr / norms).astype(np.float32, copy=False)
