"""Dataset loaders: LoCoMo, LongMemEval and our own JSON Lines message format.

Every loader returns a :class:`Dataset` whose ``quirks`` count what was odd in the file.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from lightmem.datasets.base import (
    Conversation,
    Dataset,
    DatasetTurn,
    Question,
    StrPath,
    sha256_file,
)
from lightmem.datasets.jsonl import load_jsonl
from lightmem.datasets.locomo import load_locomo
from lightmem.datasets.longmemeval import load_longmemeval
from lightmem.errors import InputError

DatasetFormat = Literal["locomo", "longmemeval", "jsonl"]
FORMATS: tuple[DatasetFormat, ...] = ("locomo", "longmemeval", "jsonl")

__all__ = [
    "FORMATS",
    "Conversation",
    "Dataset",
    "DatasetFormat",
    "DatasetTurn",
    "Question",
    "load_dataset",
    "load_jsonl",
    "load_locomo",
    "load_longmemeval",
    "sha256_file",
]


def load_dataset(
    format: DatasetFormat, path: StrPath, ids: Collection[str] | None = None
) -> Dataset:
    """Load ``path`` as ``format``; ``ids`` keeps only those samples (LoCoMo ``sample_id``,
    LongMemEval ``question_id``, JSON Lines ``user_id``)."""
    if format == "locomo":
        return load_locomo(path, ids)
    if format == "longmemeval":
        return load_longmemeval(path, ids)
    if format == "jsonl":
        return load_jsonl(path, ids)
    raise InputError(f"unknown dataset format {format!r}; use one of: {', '.join(FORMATS)}")
