"""The demo conversation shipped in the package (``lightmem/data/demo.json``)."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.resources import as_file, files

import pytest

from lightmem.datasets import Dataset, load_locomo, sha256_file


@pytest.fixture(scope="module")
def demo() -> Iterator[Dataset]:
    with as_file(files("lightmem").joinpath("data", "demo.json")) as path:
        data = load_locomo(path)
        assert data.sha256 == sha256_file(path)
        yield data


def test_shape(demo: Dataset) -> None:
    (conv,) = demo.conversations
    assert conv.sample_id == "demo"
    assert conv.session_ids == [f"session_{n}" for n in range(1, 6)]
    for session in conv.session_ids:
        turns = [t for t in conv.turns if t.session_id == session]
        assert 8 <= len(turns) <= 14
    assert {t.speaker for t in conv.turns} == {"Maya", "Jonas"}
    stamps = [t.timestamp for t in conv.turns]
    assert all(s is not None and s.year == 2024 for s in stamps)
    assert sum(len(t.content.split()) for t in conv.turns) < 6000
    assert demo.quirks == {"image_turns": 1}  # nothing odd apart from one shared photo


def test_questions_have_existing_evidence(demo: Dataset) -> None:
    (conv,) = demo.conversations
    assert 8 <= len(conv.questions) <= 10
    assert {q.category for q in conv.questions} == {"1", "2", "3", "4"}
    for q in conv.questions:
        assert q.answer
        assert q.evidence, q.id
        assert set(q.evidence) <= conv.refs, q.id
