"""API keys and idempotency keys in the store's database, raced from several connections
(as several `lightmem keys` processes and server workers would), on every backend."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest

from lightmem.errors import ConflictError, InputError
from lightmem.server.keys import KeyStore
from lightmem.stores.base import Store
from lightmem.types import Scope, Turn

ROUNDS = 200
ALICE = Scope("alice")


def test_racing_creates_and_revokes_lose_nothing_and_keep_nothing_revoked(
    make_store: Callable[..., Store],
) -> None:
    creators = [KeyStore(make_store()) for _ in range(2)]
    revoker = KeyStore(make_store())
    checker = KeyStore(make_store())
    secrets: dict[str, str] = {}
    revoked: set[str] = set()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def create(ks: KeyStore, name: str) -> None:
        try:
            secret, key = ks.create(users=[name], name=name)
            with lock:
                secrets[key.name] = secret
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    def revoke(name: str) -> None:
        try:
            revoker.revoke(name)
            with lock:
                revoked.add(name)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    first, _ = creators[0].create(users=["victim-0"], name="victim-0")
    secrets["victim-0"] = first
    for i in range(ROUNDS):
        # revoke the previous round's victim while two new keys are created
        threads = [
            threading.Thread(target=revoke, args=(f"victim-{i}",)),
            threading.Thread(target=create, args=(creators[0], f"victim-{i + 1}")),
            threading.Thread(target=create, args=(creators[1], f"bystander-{i}")),
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    names = {k.name for k in checker.list_keys()}
    stale = [n for n in revoked if n in names or checker.verify(secrets[n]) is not None]
    kept = [n for n in secrets if n not in revoked]
    lost = [n for n in kept if n not in names or checker.verify(secrets[n]) is None]
    print(f"\n{ROUNDS} rounds: {len(revoked)} revoked, {len(names)} kept; ", end="")
    print(f"stale revocations {len(stale)}, lost keys {len(lost)}")
    assert len(revoked) == ROUNDS and stale == [] and lost == []
    assert names == {f"bystander-{i}" for i in range(ROUNDS)} | {f"victim-{ROUNDS}"}


def test_concurrent_generated_names_never_collide(make_store: Callable[..., Store]) -> None:
    stores = [KeyStore(make_store()) for _ in range(4)]
    made: list[str] = []

    def work(ks: KeyStore) -> None:
        for _ in range(25):
            made.append(ks.create(users=["u"])[1].name)

    threads = [threading.Thread(target=work, args=(ks,)) for ks in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(made) == 100 and {k.name for k in stores[0].list_keys()} == set(made)


def turns(*texts: str) -> list[Turn]:
    return [Turn(id=f"t-{t}", scope=ALICE, seq=0, role="user", content=t) for t in texts]


def test_idempotent_adds_store_once_and_conflict_on_another_body(store: Store) -> None:
    first, replayed = store.add_turns_once(turns("hello"), ALICE, "k1", "digest-a")
    assert not replayed
    again, replayed = store.add_turns_once(
        [Turn(id="t-other", scope=ALICE, seq=0, role="user", content="hello")],
        ALICE,
        "k1",
        "digest-a",
    )
    assert replayed and [t.id for t in again] == [t.id for t in first]
    with pytest.raises(ConflictError, match="k1"):
        store.add_turns_once(turns("bye"), ALICE, "k1", "digest-b")
    # the same key of another owner is another key
    _, replayed = store.add_turns_once(
        [Turn(id="t-bob", scope=Scope("bob"), seq=0, role="user", content="hi")],
        Scope("bob"),
        "k1",
        "digest-c",
    )
    assert not replayed
    assert [t.content for t in store.list_turns(ALICE)] == ["hello"]


def test_racing_idempotent_adds_store_once(make_store: Callable[..., Store]) -> None:
    stores = [make_store() for _ in range(4)]
    results: list[tuple[list[str], bool]] = []

    def add(s: Store, n: int) -> None:
        saved, replayed = s.add_turns_once(turns(f"same-{n}"), ALICE, "retry", "d")
        results.append(([t.id for t in saved], replayed))

    threads = [threading.Thread(target=add, args=(s, n)) for n, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(stores[0].list_turns(ALICE)) == 1
    assert sum(1 for _, replayed in results if not replayed) == 1
    assert len({tuple(ids) for ids, _ in results}) == 1


def test_idempotency_digests_are_keyed_and_erased_with_their_turns(store: Store) -> None:
    """Issue 19, finding 10: the stored digest is an HMAC under the store's salt (the plain
    digest of a request is not in the database), and erasing a turn drops the keys that
    stored it, digest included."""
    saved, _ = store.add_turns_once(turns("hello"), ALICE, "k1", "plain-digest-a")
    store.add_turns_once(turns("other"), ALICE, "k2", "plain-digest-b")
    db = store._db  # type: ignore[attr-defined]
    rows = db.read("t", lambda c: c.execute("SELECT key, digest FROM idempotency_keys").fetchall())
    assert {r["key"] for r in rows} == {"k1", "k2"}
    assert not any(r["digest"].startswith("plain-digest") for r in rows)
    assert "idempotency_salt" not in store.meta_items()
    with pytest.raises(InputError, match="managed by the store"):
        store.set_meta("idempotency_salt", "00")
    _, replayed = store.add_turns_once(turns("again"), ALICE, "k1", "plain-digest-a")
    assert replayed
    store.erase(ALICE, [], [saved[0].id], cause="forget", actor="user")
    rows = db.read("t", lambda c: c.execute("SELECT key FROM idempotency_keys").fetchall())
    assert [r["key"] for r in rows] == ["k2"]
