"""Expiry before sleep time (issue 19, finding 11): a memory whose time is up is gone from
every read and edit at once, as if purged, on every store backend; sleep time then erases it."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime

import pytest
from fastapi.testclient import TestClient

from lightmem import Memory
from lightmem.errors import InputError, NotFoundError
from lightmem.server.keys import KeyStore
from lightmem.server.rest.app import create_app
from lightmem.types import Entry, Scope

TEXTS = ["the spare key is under the blue flowerpot", "I play tennis on Thursdays"]


def expired_one(mem: Memory) -> tuple[Entry, Entry]:
    mem.add([{"role": "user", "content": t} for t in TEXTS], user_id="alice")
    mem.flush(user_id="alice")
    gone, kept = mem.get_all(user_id="alice")
    mem.store.set_entry_flags(gone.id, expires_at=datetime(2000, 1, 1), actor="user")
    return gone, kept


def test_an_expired_memory_is_gone_from_every_read_and_edit(
    open_memory: Callable[[], Memory],
) -> None:
    mem = open_memory()
    gone, kept = expired_one(mem)
    calls: list[Callable[[], object]] = [
        lambda: mem.get(gone.id),
        lambda: mem.get(gone.id, user_id="alice"),
        lambda: mem.sources(gone.id),
        lambda: mem.history(gone.id),
        lambda: mem.decisions(gone.id),
        lambda: mem.update(gone.id, "the key moved"),
        lambda: mem.delete(gone.id),
        lambda: mem.pin(gone.id),
        lambda: mem.set_ttl(gone.id, 3600),
    ]
    alice = mem.as_scope(user_id="alice")
    calls += [lambda: alice.get(gone.id), lambda: alice.update(gone.id, "x")]
    for call in calls:
        with pytest.raises(NotFoundError, match="no memory"):
            call()
    assert [e.id for e in mem.get_all(user_id="alice")] == [kept.id]
    exported = list(mem.export(user_id="alice"))
    assert gone.id not in {r.get("id") for r in exported}
    assert gone.id not in {r.get("entry_id") for r in exported if r["kind"] == "history"}
    assert kept.id in {r.get("id") for r in exported}
    assert mem.get(kept.id).text == kept.text
    assert mem.consolidate(user_id="alice").expired == 1
    assert [e.id for e in mem.get_all(user_id="alice", include_deleted=True)] == [kept.id]


def test_rest_answers_404_for_an_expired_memory(make_memory: Callable[..., Memory]) -> None:
    mem = make_memory(worker={"background": True})
    gone, kept = expired_one(mem)
    keys = KeyStore.for_memory(mem)
    h = {"Authorization": f"Bearer {keys.create(users=['alice'])[0]}"}
    with TestClient(create_app(mem, keys)) as c:
        answers = [
            c.get(f"/v1/memories/{gone.id}", headers=h),
            c.get(f"/v1/memories/{gone.id}/sources", headers=h),
            c.get(f"/v1/memories/{gone.id}/history", headers=h),
            c.patch(f"/v1/memories/{gone.id}", json={"text": "moved"}, headers=h),
            c.delete(f"/v1/memories/{gone.id}", headers=h),
            c.post(f"/v1/memories/{gone.id}/pin", json={}, headers=h),
            c.post(f"/v1/memories/{gone.id}/ttl", json={"ttl_seconds": 60}, headers=h),
        ]
        assert [r.status_code for r in answers] == [404] * len(answers)
        assert {r.json()["error"]["code"] for r in answers} == {"not_found"}
        exported = c.get("/v1/export", headers=h).text
        assert gone.id not in exported  # its turn stays until sleep time erases it too
        assert c.get(f"/v1/memories/{kept.id}", headers=h).status_code == 200
    assert mem.store.get_entry(gone.id, Scope("alice")).id == gone.id  # until sleep time


def test_a_listing_with_a_limit_pages_past_expired_memories(
    open_memory: Callable[[], Memory],
) -> None:
    """get_all(limit=...) reads about ``limit`` rows, yet still returns ``limit`` visible
    memories when the first rows it reads have expired; ``newest_first`` reverses the order."""
    mem = open_memory()
    texts = [f"note {n}: I keep the {thing} in the shed" for n, thing in enumerate("abcdef")]
    mem.add([{"role": "user", "content": t} for t in texts], user_id="alice")
    mem.flush(user_id="alice")
    every = mem.get_all(user_id="alice")
    assert len(every) == len(texts)
    for gone in every[-3:-1]:  # the second and third newest
        mem.store.set_entry_flags(gone.id, expires_at=datetime(2000, 1, 1), actor="user")
    visible = [e.id for e in every if e.id not in {g.id for g in every[-3:-1]}]
    newest = [e.id for e in mem.get_all(user_id="alice", newest_first=True, limit=2)]
    assert newest == [visible[-1], visible[-2]]
    assert [e.id for e in mem.get_all(user_id="alice", limit=2)] == visible[:2]
    assert [e.id for e in mem.get_all(user_id="alice", newest_first=True, limit=9)] == visible[::-1]
    with pytest.raises(InputError, match="newest_first"):
        mem.get_all(user_id="alice", newest_first="yes")  # type: ignore[arg-type]


def test_a_session_summary_never_keeps_an_expired_memory(
    open_memory: Callable[[], Memory],
) -> None:
    """A summary built before a memory expired quoted it in context() and export, and kept
    its turn from being erased at sleep time (it cited the turn)."""
    mem = open_memory()
    said = ["I work as a teacher at the Porto school.", "My dog is called Rex."]
    mem.add([{"role": "user", "content": t} for t in said], user_id="u", session_id="s")
    mem.flush(user_id="u")
    mem.consolidate(user_id="u")
    (summary,) = mem.get_all(user_id="u", kind="summary")
    assert "teacher" in summary.text
    gone = next(e for e in mem.get_all(user_id="u") if "teacher" in e.text)
    mem.store.set_entry_flags(gone.id, expires_at=datetime(2000, 1, 1), actor="user")

    def shown() -> str:
        return mem.context("what is my job at the school? teacher", user_id="u").text

    assert "teacher" not in shown()  # before sleep time: the summary is left out
    assert mem.consolidate(user_id="u").expired == 1
    rebuilt = mem.get_all(user_id="u", kind="summary")
    assert rebuilt and all("teacher" not in e.text for e in rebuilt)
    assert "teacher" not in shown()
    assert "teacher" not in json.dumps(list(mem.export(user_id="u")))
    assert [t.content for t in mem.turns(user_id="u")] == [said[1]]
