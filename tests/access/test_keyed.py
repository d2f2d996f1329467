"""Keyed memories through the one access path: the owner puts, reads and erases them; a
read grant reads, a write grant puts but does not erase; another tenant sees nothing."""

from __future__ import annotations

import pytest

from lightmem import Memory
from lightmem.errors import AccessDeniedError, InputError
from tests.support.memories import MakeMemory


@pytest.fixture
def memory(make_memory: MakeMemory) -> Memory:
    return make_memory()


def test_the_owner_puts_reads_lists_and_erases(memory: Memory) -> None:
    alice = memory.as_scope(user_id="alice")
    first = alice.put_keyed("profile.city", "alice lives in Porto", data={"city": "Porto"})
    again = alice.put_keyed("profile.city", "alice lives in Braga", data={"city": "Braga"})
    assert again.id == first.id and again.version == 2
    got = alice.get_keyed("profile.city")
    assert got is not None and got.meta["data"] == {"city": "Braga"}
    assert [e.text for e in alice.list_keyed()] == ["alice lives in Braga"]
    assert [h.text for h in alice.search("where does alice live, Braga?")][:1] == [
        "alice lives in Braga"
    ]
    assert alice.delete_keyed("profile.city") and alice.get_keyed("profile.city") is None
    assert not alice.delete_keyed("profile.city")
    assert memory.get_all(user_id="alice", include_deleted=True) == []  # erased, not a tombstone


def test_a_forgotten_key_starts_afresh(memory: Memory) -> None:
    alice = memory.as_scope(user_id="alice")
    alice.put_keyed("k", "alice owns a kayak")
    memory.forget("kayak", user_id="alice")
    assert alice.get_keyed("k") is None
    assert alice.put_keyed("k", "alice sold the kayak").version == 1


def test_grants_decide_who_may_put_and_erase(memory: Memory) -> None:
    memory.as_scope(user_id="team").put_keyed("rule", "deploys happen on Friday")
    memory.grant("read", pool={"user_id": "team"}, to={"agent_id": "reader"})
    memory.grant("write", pool={"user_id": "team"}, to={"agent_id": "writer"})
    team = memory.as_scope(user_id="team").where()
    reader = memory.as_scope(agent_id="reader")
    assert reader.get_keyed("rule", pool=team) is not None
    with pytest.raises(AccessDeniedError):
        reader.put_keyed("rule", "deploys happen on Monday", pool=team)
    writer = memory.as_scope(agent_id="writer")
    writer.put_keyed("rule2", "freeze in December", pool=team)
    with pytest.raises(AccessDeniedError, match="owner"):
        writer.delete_keyed("rule2", pool=team)
    with pytest.raises(AccessDeniedError):
        memory.as_scope(user_id="mallory").get_keyed("rule", user_id="team")


def test_bad_keyed_input_is_refused(memory: Memory) -> None:
    alice = memory.as_scope(user_id="alice")
    with pytest.raises(InputError, match="non-empty text"):
        alice.put_keyed("k", "  ")
    with pytest.raises(InputError, match="must be JSON"):
        alice.put_keyed("k", "text", data={"when": object()})
    with pytest.raises(InputError, match="key"):
        alice.put_keyed("", "text")
