"""A deterministic feature-hashing embedder: no model, no network, same vectors everywhere.

Each text becomes lowercased word tokens plus the character trigrams of each word (with
``#`` marking word boundaries); every feature is hashed with BLAKE2b (stable across
processes, unlike the salted built-in ``hash``) into a bucket and a sign, the signed counts
are summed and the row is L2-normalised. Texts that share words or word pieces land closer
together than unrelated texts. Meant for tests and as a fallback; it knows no synonyms.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
from pydantic import Field

from lightmem.embedders.base import Embedder, EmbedderOptions, Vectors, normalize

_WORD = re.compile(r"\w+")
#: The one feature of a text that has no words, so that its vector is unit-norm too.
_EMPTY = "\x00empty"


class HashEmbedderOptions(EmbedderOptions):
    dim: int = Field(default=64, ge=2, le=65536)
    seed: int = Field(default=0, ge=0, lt=2**64)


class HashEmbedder(Embedder):
    Options = HashEmbedderOptions

    def __init__(self, options: HashEmbedderOptions | None = None) -> None:
        self.opts = options if options is not None else HashEmbedderOptions()
        super().__init__(self.opts)
        self._key = str(self.opts.seed).encode()

    @property
    def dim(self) -> int:
        return self.opts.dim

    @property
    def model_id(self) -> str:
        return f"hash-{self.opts.dim}-{self.opts.seed}"

    def embed(self, texts: list[str]) -> Vectors:
        out = np.zeros((len(texts), self.opts.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for feature in features(text):
                bucket, sign = self._hash(feature)
                out[row, bucket] += sign
        return normalize(out)

    def _hash(self, feature: str) -> tuple[int, float]:
        digest = hashlib.blake2b(feature.encode(), digest_size=8, key=self._key).digest()
        value = int.from_bytes(digest, "little")
        return (value >> 1) % self.opts.dim, 1.0 if value & 1 else -1.0


def features(text: str) -> list[str]:
    """Word tokens (``w:``) and boundary-marked character trigrams (``c:``) of ``text``."""
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        out.append("w:" + word)
        padded = f"#{word}#"
        out.extend("c:" + padded[i : i + 3] for i in range(len(padded) - 2))
    return out or [_EMPTY]
