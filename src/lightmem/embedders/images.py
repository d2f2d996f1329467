"""The image-embedding slot: images (by reference) in, an L2-normalised float32 matrix out.

No image model ships with LightMem; a backend registers as ``image_embedder.<name>`` like
every other (entry points), and :func:`build_image_embedder` builds it from a config
section (``image_embedder`` in the config; ``"none"``: no image embedding). A backend has
two sides in one space, as CLIP-like models do: ``embed_images`` (at ingest, per image of
a turn) and ``embed_texts`` (the query), so a text query finds an image by what it shows.
``image_embedder.hash`` is a deterministic fake: it hashes the image's bytes when the
reference is a readable file, else the reference itself; its text side hashes the text the
same way (a query equal to a reference finds that image).
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from lightmem.config import BackendSection
from lightmem.embedders.base import Vectors, normalize
from lightmem.types import ImageRef


class ImageEmbedderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImageEmbedder(ABC):
    Options: ClassVar[type[BaseModel]] = ImageEmbedderOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @property
    @abstractmethod
    def dim(self) -> int: ...

    @property
    @abstractmethod
    def model_id(self) -> str: ...

    @abstractmethod
    def embed_images(self, images: list[ImageRef]) -> Vectors:
        """An ``(len(images), dim)`` float32 array with unit-norm rows."""

    @abstractmethod
    def embed_texts(self, texts: list[str]) -> Vectors:
        """The text side, in the images' space: ``(len(texts), dim)``, unit-norm rows."""


class HashImageEmbedderOptions(ImageEmbedderOptions):
    dim: int = Field(64, ge=2, le=4096)


class HashImageEmbedder(ImageEmbedder):
    """Deterministic fake: equal images give equal vectors, different ones different."""

    Options = HashImageEmbedderOptions

    def __init__(self, options: HashImageEmbedderOptions | None = None) -> None:
        self.opts = options if options is not None else HashImageEmbedderOptions()
        super().__init__(self.opts)

    @property
    def dim(self) -> int:
        return self.opts.dim

    @property
    def model_id(self) -> str:
        return f"image-hash-{self.opts.dim}"

    def embed_images(self, images: list[ImageRef]) -> Vectors:
        blobs = []
        for image in images:
            path = Path(image.url)
            blobs.append(path.read_bytes() if path.is_file() else image.url.encode("utf-8"))
        return self._hash(blobs)

    def embed_texts(self, texts: list[str]) -> Vectors:
        return self._hash([t.encode("utf-8") for t in texts])

    def _hash(self, blobs: list[bytes]) -> Vectors:
        rows = np.zeros((len(blobs), self.dim), dtype=np.float32)
        for n, data in enumerate(blobs):
            seed = int.from_bytes(hashlib.sha256(data).digest()[:8], "little")
            rows[n] = np.random.default_rng(seed).standard_normal(self.dim)
        return normalize(rows)


def build_image_embedder(section: BackendSection | dict[str, Any] | str) -> ImageEmbedder:
    """The image embedder a config section names (``"hash"``, ``{"provider": ...}``)."""
    from lightmem.registry import build

    if not isinstance(section, BackendSection):
        section = BackendSection.model_validate(
            {"provider": section} if isinstance(section, str) else section
        )
    return build("image_embedder", section, ImageEmbedder)
