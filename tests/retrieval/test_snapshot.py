"""Owner-index snapshots: written when the store closes, read at the next first search,
brought up to date by delta; never holding what was erased, never read when unsafe."""

from __future__ import annotations

import gc
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from lightmem import Memory
from lightmem.retrieval import snapshot
from lightmem.retrieval.index import OwnerIndex
from lightmem.retrieval.snapshot import MAGIC, Snapshots
from lightmem.stores.base import Store
from lightmem.types import Scope
from tests.support.memories import MakeMemory

ALICE = Scope(user_id="alice")
SMALL = {"snapshot_min_rows": 10}
QUESTIONS = ("pottery on Thursday", "where did Maya travel", "the cat's food", "a new job")


def chat(n_sessions: int, start: int = 0) -> list[list[dict[str, str]]]:
    lines = [
        "I took up pottery classes on Thursday evenings.",
        "My cat Pixel only eats salmon kibble.",
        "We flew to Lisbon for a week in May.",
        "I started a new job as a nurse at Riverside.",
        "The book club moved to the library.",
    ]
    return [
        [
            {"role": "user", "name": "Maya", "content": f"{lines[(s + j) % 5]} (note {s}-{j})"}
            for j in range(4)
        ]
        for s in range(start, start + n_sessions)
    ]


def fill(mem: Memory, n_sessions: int, start: int = 0) -> None:
    for i, s in enumerate(chat(n_sessions, start)):
        mem.add(s, user_id="alice", session_id=f"s{start + i}")
    mem.flush(user_id="alice")


def answers(mem: Memory) -> list[list[tuple[str, float]]]:
    return [
        [(h.id, round(h.score, 6)) for h in mem.search(q, user_id="alice", limit=8)]
        for q in QUESTIONS
    ]


def index_of(mem: Memory) -> OwnerIndex:
    return mem.searcher._indexes[ALICE]


def snapshot_file(mem: Memory) -> Path:
    path = mem.store.snapshot_path(ALICE)
    assert path is not None
    return path


def written(make_memory: MakeMemory) -> tuple[list[list[tuple[str, float]]], Path]:
    """A store of six sessions searched (so its index is built) and closed (so the snapshot
    is written): what it answered, and the snapshot's path."""
    mem = make_memory(retrieval=SMALL)
    fill(mem, 6)
    cold = answers(mem)
    mem.close()
    return cold, snapshot_file(mem)


def spy_on_restore(mem: Memory) -> list[bool]:
    """What each restore of ``mem``'s searcher answered (True: it read a snapshot)."""
    restored: list[bool] = []
    real = mem.searcher.snapshots.restore

    def spy(idx: OwnerIndex, store: Store) -> bool:
        restored.append(real(idx, store))
        return restored[-1]

    mem.searcher.snapshots.restore = spy  # type: ignore[method-assign]
    return restored


def test_a_reopened_store_reads_the_snapshot_and_answers_as_a_cold_build(
    make_memory: MakeMemory, tmp_path: Path
) -> None:
    mem = make_memory(retrieval=SMALL)
    fill(mem, 6)
    cold = answers(mem)
    path = snapshot_file(mem)
    mem.close()
    assert path.exists() and path.read_bytes().startswith(MAGIC)
    assert path.stat().st_mode & 0o777 == 0o600 and path.parent.stat().st_mode & 0o777 == 0o700

    again = make_memory(retrieval=SMALL)
    restored = spy_on_restore(again)
    assert answers(again) == cold
    assert restored == [True]
    # the state equals a build from the rows, field by field where it matters
    built = OwnerIndex(ALICE, again.searcher.index_settings)
    built.refresh(again.store)
    got = index_of(again)
    assert got.watermark == built.watermark and got.row_ids == built.row_ids
    assert np.array_equal(got.grid.vectors[: got.grid.n], built.grid.vectors[: built.grid.n])
    assert np.allclose(got.context_norm[: got.grid.n], built.context_norm[: built.grid.n])
    assert got.row_turn[0] is got.turns[got.row_ids[0]]  # one object, not two copies


def test_changes_made_after_the_snapshot_are_applied_by_delta(
    make_memory: MakeMemory, tmp_path: Path
) -> None:
    written(make_memory)
    writer = make_memory(retrieval=SMALL)  # writes, never searches: the file stays as it was
    writer.add("I adopted a greyhound called Comet.", user_id="alice", session_id="s9")
    writer.flush(user_id="alice")
    writer.close()

    again = make_memory(retrieval=SMALL)
    hits = again.search("greyhound Comet", user_id="alice", limit=3)
    assert "Comet" in hits[0].text
    built = make_memory(tmp_path / "other", retrieval={"snapshot_min_rows": 0})
    fill(built, 6)
    built.add("I adopted a greyhound called Comet.", user_id="alice", session_id="s9")
    built.flush(user_id="alice")
    assert [[s for _, s in a] for a in answers(again)] == [
        [s for _, s in a] for a in answers(built)
    ]
    assert not built.store.snapshot_path(ALICE).parent.exists()  # 0: never written


def test_an_erasure_removes_the_file_and_nothing_erased_is_written_again(
    make_memory: MakeMemory, tmp_path: Path
) -> None:
    mem = make_memory(retrieval=SMALL)
    fill(mem, 6)
    mem.add("My locker code is zq7731x.", user_id="alice", session_id="s8")
    mem.flush(user_id="alice")
    assert mem.search("locker code", user_id="alice")
    mem.close()
    path = snapshot_file(mem)
    assert b"zq7731x" in path.read_bytes()

    left = path.parent / f".{path.name}.4242.tmp"  # a writer killed mid-way left this
    left.write_bytes(path.read_bytes())
    other = make_memory(retrieval=SMALL)  # another process purges
    result = other.forget("zq7731x", user_id="alice", purge=True)
    assert result.erased_turns == 1
    assert not path.exists() and not left.exists()
    other.close()
    assert not path.exists()  # its index was never loaded: nothing to write

    # an index that applied an erasure is not written: it may keep a word of it
    loaded = make_memory(retrieval=SMALL)
    answers(loaded)  # built from the rows: the purged turn is not in it
    loaded.add("My bike lock code is kk4410y.", user_id="alice", session_id="s8")
    loaded.flush(user_id="alice")
    assert loaded.search("bike lock", user_id="alice")
    loaded.forget("kk4410y", user_id="alice", purge=True)
    loaded.close()
    assert not path.exists()
    rebuilt = make_memory(retrieval=SMALL)
    answers(rebuilt)
    rebuilt.close()
    assert path.exists()
    for f in tmp_path.rglob("*"):
        if f.is_file() and "store" in f.parts:
            assert b"zq7731x" not in f.read_bytes() and b"kk4410y" not in f.read_bytes(), f


def test_an_erasure_the_file_did_not_see_means_it_is_not_read(
    make_memory: MakeMemory,
) -> None:
    _, path = written(make_memory)
    kept = path.read_bytes()
    purger = make_memory(retrieval=SMALL)
    purger.forget("Lisbon", user_id="alice", purge=True)
    purger.close()
    path.write_bytes(kept)  # as if an older version had left it behind
    os.chmod(path, 0o600)
    again = make_memory(retrieval=SMALL)
    fresh = OwnerIndex(ALICE, again.searcher.index_settings)
    assert not again.searcher.snapshots.restore(fresh, again.store)
    assert not path.exists()
    assert all("Lisbon" not in h.text for h in again.search("Lisbon", user_id="alice"))


def test_a_file_others_can_write_or_that_names_other_code_is_never_unpickled(
    make_memory: MakeMemory, tmp_path: Path
) -> None:
    cold, path = written(make_memory)
    good = path.read_bytes()

    os.chmod(path, 0o666)
    again = make_memory(retrieval=SMALL)
    fresh = OwnerIndex(ALICE, again.searcher.index_settings)
    assert not again.searcher.snapshots.restore(fresh, again.store)
    again.close()

    flag = tmp_path / "ran"
    evil = pickle.dumps(_Evil(str(flag)))
    body = good[: len(MAGIC) + 32] + evil
    path.write_bytes(body)
    os.chmod(path, 0o600)
    third = make_memory(retrieval=SMALL)
    assert answers(third) == cold  # built from the rows
    assert not flag.exists()


class _Evil:
    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.path}",))


def test_another_setting_or_a_small_owner_builds_from_the_rows(make_memory: MakeMemory) -> None:
    _, path = written(make_memory)
    wider = make_memory(retrieval={**SMALL, "context_window": 3})
    s = wider.searcher.snapshots
    assert isinstance(s, Snapshots)
    assert not s.restore(OwnerIndex(ALICE, wider.searcher.index_settings), wider.store)
    assert not snapshot_file(wider).exists()  # another setting's file is dropped
    wider.close()

    remade = make_memory(retrieval=SMALL)
    answers(remade)
    remade.close()
    before = path.stat().st_mtime_ns
    small = make_memory(retrieval={"snapshot_min_rows": 1000})
    small.add("One more line about the garden.", user_id="alice", session_id="s7")
    small.flush(user_id="alice")
    answers(small)  # read the file, then took the new turn by delta
    small.close()
    assert snapshot_file(small).stat().st_mtime_ns == before  # too small to write again


@pytest.mark.parametrize("cut", [10, 200])
def test_a_damaged_file_is_removed_and_the_index_built(make_memory: MakeMemory, cut: int) -> None:
    cold, path = written(make_memory)
    path.write_bytes(path.read_bytes()[:-cut])
    os.chmod(path, 0o600)
    again = make_memory(retrieval=SMALL)
    assert answers(again) == cold
    again.close()
    assert path.exists()  # written again, whole
    assert path.stat().st_size > 1000


def test_small_pieces_read_back_the_same_index(
    make_memory: MakeMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Arrays, dicts and lists go in pieces (a checkpoint between two, for other requests);
    pieces of a few items put back every one where it was."""
    monkeypatch.setattr(snapshot, "BLOCK_BYTES", 512)
    monkeypatch.setattr(snapshot, "PIECE", 3)
    mem = make_memory(retrieval=SMALL)
    fill(mem, 6)
    cold = answers(mem)
    built = index_of(mem)
    mem.close()
    again = make_memory(retrieval=SMALL)
    restored = spy_on_restore(again)
    assert answers(again) == cold
    assert restored == [True]
    got = index_of(again)
    for name in ("vectors", "live", "ts", "run", "speaker"):
        a, b = getattr(got.grid, name)[: got.grid.n], getattr(built.grid, name)[: built.grid.n]
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), name
    assert got.grid.vectors.shape == built.grid.vectors.shape
    assert got.row_ids == built.row_ids and got.cites == built.cites
    assert sorted(got.context_bm25.scores(["pottery", "thursday"]).items()) == sorted(
        built.context_bm25.scores(["pottery", "thursday"]).items()
    )


def test_a_read_holds_off_full_collections_only_and_puts_the_thresholds_back() -> None:
    before = gc.get_threshold()
    with snapshot._young_collections_only():
        inside = gc.get_threshold()
        with snapshot._young_collections_only():  # another thread's read meanwhile
            assert gc.get_threshold() == inside
        assert gc.get_threshold() == inside
        assert gc.isenabled() and inside[:2] == before[:2] and inside[2] >= 1 << 30
    assert gc.get_threshold() == before
