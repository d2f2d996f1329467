"""The image-embedding slot wired into ingest and search, with a fake image embedder
registered through the real registry: an image without caption is found by what it shows,
through the embedder's text side; memories drawn from its turn carry it and are found too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from lightmem import Memory
from lightmem.errors import ConfigError
from lightmem.registry import registry
from lightmem.retrieval.index import memory_text
from lightmem.types import Entry, ImageRef, Scope
from tests.fakes.images import WordsImageEmbedder

registry.register("image_embedder", "test-words", WordsImageEmbedder)

KITE = "https://example.com/photos/red-kite.jpg"
TALK = [
    {"role": "user", "content": "look what I made this weekend!", "images": [KITE]},
    {"role": "user", "content": "I had pasta with friends for lunch"},
    {"role": "user", "content": "the weather was nice and sunny on Sunday"},
    {"role": "user", "content": "my brother fixed his old bicycle"},
]


def open_memory(path: Path, images: bool, **config: Any) -> Memory:
    base: dict[str, Any] = {
        "embedder": {"provider": "hash", "options": {"dim": 64}},
        "llm": "none",
        **config,
    }
    if images:
        base["image_embedder"] = "test-words"
    return Memory(path, config=base)


def kite_turn(mem: Memory) -> str:
    return next(t.id for t in mem.turns(user_id="u") if t.images)


def test_images_are_embedded_at_ingest_and_found_by_the_text_side(tmp_path: Path) -> None:
    mem = open_memory(tmp_path / "on", images=True)
    mem.add(TALK, user_id="u")
    assert isinstance(mem.image_embedder, WordsImageEmbedder)
    assert mem.image_embedder.calls == [1]  # at ingest: the one image, once
    model = mem.image_embedder.model_id
    assert list(mem.store.image_vectors(Scope("u"), model)) == [(kite_turn(mem), 0)]
    mem.flush(user_id="u")
    for query in ("kite", "a red kite", "KITE?"):
        top = mem.search(query, user_id="u", mode="hybrid", limit=3)[0]
        assert [s.id for s in top.sources] == [kite_turn(mem)], query
        assert top.entry is not None and top.entry.images == [ImageRef(KITE)]
    # bm25 ranks words only: the image is not a word of any turn
    assert not any(h.sources[0].images for h in mem.search("kite", user_id="u", mode="bm25"))
    mem.close()


def test_without_an_image_embedder_the_image_is_not_found_by_what_it_shows(
    tmp_path: Path,
) -> None:
    """The control: the same conversation, no image embedder."""
    mem = open_memory(tmp_path / "off", images=False)
    mem.add(TALK, user_id="u")
    mem.flush(user_id="u")
    assert mem.image_embedder is None
    assert mem.store.image_vectors(Scope("u"), "test-words-128") == {}
    for query in ("kite", "a red kite"):
        hits = mem.search(query, user_id="u", mode="bm25")
        assert not any(h.sources and h.sources[0].images for h in hits)
    mem.close()


def test_memories_extracted_by_an_llm_carry_the_image_and_are_found_by_it(
    tmp_path: Path,
) -> None:
    mem = open_memory(tmp_path / "llm", images=True, llm="tests.fakes.echo_llm.EchoLLM")
    mem.add(TALK, user_id="u")
    mem.flush(user_id="u")
    entries = mem.get_all(user_id="u")
    (carrier,) = [e for e in entries if e.images]
    assert carrier.images == [ImageRef(KITE)] and carrier.sources == [kite_turn(mem)]
    assert "kite" not in carrier.text  # found by the image, not by its words
    hits = mem.search("kite", user_id="u", mode="hybrid", limit=3)
    assert hits[0].kind == "memory" and hits[0].id == carrier.id
    # exported and imported with its images and their vectors
    records = list(mem.export(user_id="u"))
    assert any(r["kind"] == "image_vector" for r in records)
    copy = open_memory(tmp_path / "copy", images=True, llm="tests.fakes.echo_llm.EchoLLM")
    copy.import_records(records)
    assert copy.search("kite", user_id="u", mode="hybrid", limit=3)[0].id == carrier.id
    mem.close()
    copy.close()


def test_a_memory_is_searched_by_its_images_captions() -> None:
    e = Entry("e", Scope("u"), "look at this", images=[ImageRef(KITE, "a kite over the dunes")])
    assert "dunes" in memory_text(e)


def test_an_unknown_image_embedder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="image_embedder provider 'nope'"):
        open_memory(tmp_path / "bad", images=False, image_embedder="nope")
