"""Ids of a scoped import (issue 19, finding 13): every row id replaced by one derived from
its owner and the file's id, every link between the rows rewritten to match."""

from __future__ import annotations

from lightmem.rekey import derived_id, rekey


def test_rekey_rewrites_every_link_and_leaves_numbering_to_the_store() -> None:
    owner = {"user_id": "u", "agent_id": None}
    records = [
        {"kind": "turn", "id": "t1", "seq": 7, "batch_id": "b1", **owner},
        {"kind": "batch", "id": "b1", "turn_ids": ["t1"], **owner},
        {
            "kind": "entry",
            "id": "e1",
            "sources": ["t1"],
            "meta": None,
            "superseded_by": "e2",
            **owner,
        },
        {
            "kind": "entry",
            "id": "e2",
            "sources": ["t1"],
            "meta": {"facts": ["e1"], "links": [{"to": "e1", "relation": "after"}]},
            **owner,
        },
        {"kind": "history", "id": 3, "entry_id": "e2"},
        {"kind": "pair", "target_id": "e1", "source_id": "e2"},
        {"kind": "image_vector", "turn_id": "t1", "n": 0},
    ]
    t, b, e1, e2 = (
        derived_id("u", None, k, i)
        for k, i in (("turn", "t1"), ("batch", "b1"), ("entry", "e1"), ("entry", "e2"))
    )
    out = rekey(records)
    assert [r.get("id") for r in out] == [t, b, e1, e2, None, None, None]
    assert out[0]["seq"] is None and out[0]["batch_id"] == b
    assert out[1]["turn_ids"] == [t] and out[2]["sources"] == [t]
    assert out[2]["superseded_by"] == e2  # a replaced memory still names its successor
    assert out[3]["meta"] == {"facts": [e1], "links": [{"to": e1, "relation": "after"}]}
    assert out[4]["entry_id"] == e2
    assert (out[5]["target_id"], out[5]["source_id"]) == (e1, e2)
    assert out[6]["turn_id"] == t
    assert records[0]["id"] == "t1"  # the caller's records are left as they were


def test_derived_ids_depend_on_the_owner_only() -> None:
    a = derived_id("alice", None, "entry", "x")
    assert a == derived_id("alice", None, "entry", "x") != derived_id("bob", None, "entry", "x")
    assert len(a) == 32 and int(a, 16) >= 0
