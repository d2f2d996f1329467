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


#: How browsers still read ``javascript:`` (issue 19, finding 7): any leading C0 control or
#: blank is skipped, tabs and newlines anywhere are dropped, the scheme is case-blind.
SCRIPT_VARIANTS = [
    *(chr(c) + "javascript:alert(1)" for c in range(0x00, 0x21)),
    "java\tscript:alert(1)",
    "java\nscript:alert(1)",
    "javascript\r:alert(1)",
    "JaVaScRiPt:alert(1)",
    "\x7fjavascript:alert(1)",
    "\x85javascript:alert(1)",
    " \x01\tvbscript:msgbox(1)",
    "\x0cdata:text/html,<script>alert(1)</script>",
    "https://example.org/a\x1bb.png",
]


@pytest.mark.parametrize("url", SCRIPT_VARIANTS, ids=repr)
def test_image_urls_browsers_read_as_scripts_are_refused(tmp_path: Path, url: str) -> None:
    mem = Memory(tmp_path / "s", config=CONFIG)
    try:
        message = {"role": "user", "content": "look", "images": [{"url": url}]}
        with pytest.raises(InputError, match="image URL"):
            mem.add([message], user_id="u")
        mem.add([{"role": "user", "content": "look"}], user_id="u")
        (record,) = [r for r in mem.export(user_id="u") if r["kind"] == "turn"]
        mem.delete_all(user_id="u")
        record["images"] = [{"url": url, "caption": None}]
        with pytest.raises(InputError, match="images"):
            mem.import_records([record])
        assert mem.turns(user_id="u") == []
    finally:
        mem.close()


def test_plain_image_urls_still_pass(tmp_path: Path) -> None:
    mem = Memory(tmp_path / "s", config=CONFIG)
    try:
        urls = ["https://example.org/a b.png", "/photos/1.jpg", "data:image/png;base64,AAAA"]
        mem.add([{"role": "user", "content": "x", "images": urls}], user_id="u")
        assert [i.url for i in mem.turns(user_id="u")[0].images] == urls
    finally:
        mem.close()
