"""A fake image embedder with a text side in the same space, registered like any backend
(``registry.register("image_embedder", "words", WordsImageEmbedder)``): an image "shows"
the words of its file name (``.../red-kite.jpg`` shows "red" and "kite"), and a text is its
words; both become the same hashed bag of words. So a text query finds an image by what it
shows, with no caption, as a CLIP-like model would."""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePosixPath

import numpy as np
from pydantic import Field

from lightmem.embedders.base import Vectors, normalize
from lightmem.embedders.images import ImageEmbedder, ImageEmbedderOptions
from lightmem.types import ImageRef


class WordsOptions(ImageEmbedderOptions):
    dim: int = Field(128, ge=8)


class WordsImageEmbedder(ImageEmbedder):
    Options = WordsOptions

    def __init__(self, options: WordsOptions | None = None) -> None:
        self.opts = options if options is not None else WordsOptions()
        super().__init__(self.opts)
        self.calls: list[int] = []  # images embedded per call

    @property
    def dim(self) -> int:
        return self.opts.dim

    @property
    def model_id(self) -> str:
        return f"test-words-{self.dim}"

    def embed_images(self, images: list[ImageRef]) -> Vectors:
        self.calls.append(len(images))
        return self._bags([PurePosixPath(i.url).stem for i in images])

    def embed_texts(self, texts: list[str]) -> Vectors:
        return self._bags(texts)

    def _bags(self, texts: list[str]) -> Vectors:
        rows = np.zeros((len(texts), self.dim), dtype=np.float32)
        for n, text in enumerate(texts):
            for word in re.findall(r"[a-z]+", text.lower()):
                rows[n, int(hashlib.sha256(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        rows[~rows.any(axis=1), 0] = 1e-3  # no words: a vector that matches nothing much
        return normalize(rows)
