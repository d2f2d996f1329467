"""Values kept by a digest (or the interpreter's hash) of the text they were made from: no
text is held, only the key and the value; the least recently used go first past ``size``.
The query vectors (:mod:`lightmem.retrieval.queryvec`) and the token counts
(:class:`lightmem.tokens.TokenCounts`) keep theirs here."""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Generic, TypeVar

#: a digest of the text (bytes), or the interpreter's hash of it (int)
Key = bytes | int

V = TypeVar("V")


def digest(text: str) -> bytes:
    """16 bytes that stand for ``text`` (lone surrogates included)."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


class Kept(Generic[V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Key, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Key) -> V | None:
        with self._lock:
            value = self._values.get(key)
            if value is not None:
                self._values.move_to_end(key)
            return value

    def put(self, key: Key, value: V) -> None:
        with self._lock:
            self._values[key] = value
            while len(self._values) > self.size:
                self._values.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._values.clear()

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self) -> Iterator[Key]:
        """The keys, least recently used first (a snapshot)."""
        with self._lock:
            return iter(list(self._values))
