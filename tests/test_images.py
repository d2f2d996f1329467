"""Images in memory: references on turns (REST, export/import, LoCoMo), captions
searchable, and the image-embedding slot with its deterministic fake."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lightmem import Memory
from lightmem.datasets import load_dataset
from lightmem.embedders.images import HashImageEmbedder, build_image_embedder
from lightmem.errors import InputError
from lightmem.types import ImageRef

CONFIG = {"embedder": {"provider": "hash"}, "llm": "none"}
PHOTO = {"url": "https://example.org/p/42.jpg", "caption": "a red kayak on a frozen lake"}


def test_turns_keep_images_and_captions_are_searchable(tmp_path: Path) -> None:
    mem = Memory(tmp_path / "a", config=CONFIG)
    try:
        mem.add(
            [
                {"role": "user", "content": "look what I bought!", "images": [PHOTO]},
                {"role": "user", "content": "and this", "images": ["file.png"]},
            ],
            user_id="u",
        )
        mem.flush(user_id="u")
        turn = mem.turns(user_id="u")[0]
        assert turn.images == [ImageRef(PHOTO["url"], PHOTO["caption"])]
        assert turn.content == "look what I bought!"  # the original text is untouched
        hits = mem.search("kayak frozen lake", user_id="u", limit=3)
        assert hits and "look what I bought" in hits[0].text
        records = list(mem.export(user_id="u"))
        assert [r["images"] for r in records if r["kind"] == "turn"][1] == [
            {"url": "file.png", "caption": None}
        ]
        with pytest.raises(InputError):
            mem.add(
                [{"role": "user", "content": "x", "images": [{"caption": "no url"}]}], user_id="u"
            )
    finally:
        mem.close()
    other = Memory(tmp_path / "b", config=CONFIG)
    try:
        other.import_records(records)
        assert other.turns(user_id="u")[0].images == turn.images
    finally:
        other.close()


def test_locomo_turns_keep_their_image(tmp_path: Path) -> None:
    data = [
        {
            "sample_id": "s1",
            "conversation": {
                "speaker_a": "Ann",
                "speaker_b": "Bo",
                "session_1_date_time": "1:56 pm on 8 May, 2023",
                "session_1": [
                    {
                        "speaker": "Ann",
                        "dia_id": "D1:1",
                        "text": "Here it is",
                        "img_url": ["https://example.org/k.jpg"],
                        "blip_caption": "a kayak",
                    },
                    {"speaker": "Bo", "dia_id": "D1:2", "text": "Nice"},
                ],
            },
            "qa": [],
        }
    ]
    path = tmp_path / "locomo.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    turn = load_dataset("locomo", path).conversations[0].turns[0]
    assert turn.images == [ImageRef("https://example.org/k.jpg", "a kayak")]
    assert turn.content == "Here it is [shares a kayak]"  # as before: scoring unchanged


def test_image_embedder_slot_with_the_fake(tmp_path: Path) -> None:
    embedder = build_image_embedder({"provider": "hash", "options": {"dim": 16}})
    assert isinstance(embedder, HashImageEmbedder) and embedder.dim == 16
    picture = tmp_path / "p.png"
    picture.write_bytes(b"\x89PNG fake bytes")
    images = [ImageRef(str(picture)), ImageRef(str(picture), "caption"), ImageRef("other.png")]
    vectors = embedder.embed_images(images)
    assert vectors.shape == (3, 16) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    assert np.allclose(vectors[0], vectors[1]) and not np.allclose(vectors[0], vectors[2])
