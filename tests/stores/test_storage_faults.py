"""A store that cannot be written: a read-only database file or store directory, a full
disk, a database at its size limit. Writes fail with a StorageError that says why, reads
go on where SQLite can serve them, and nothing already committed is lost or corrupted.

Read-only: as root (CI) file modes do not stop writes, so the file or directory is bind-
mounted read-only; as another user it is chmod-ed. A full disk is a tiny tmpfs (root only;
skipped where mounting is not allowed); a full database (``PRAGMA max_page_count``) runs
everywhere.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lightmem import Memory
from lightmem.engine.storedir import CONFIG_FILE, SQLITE_FILE
from lightmem.errors import StorageError
from lightmem.types import Scope, TurnStage
from tests.support.integrity import assert_entries_whole, assert_exactly_once, sqlite_integrity

CONFIG: dict[str, Any] = {
    "embedder": {"provider": "hash", "options": {"dim": 32}},
    "llm": "none",
    "buffer": {"sensory_tokens": 40, "shortterm_tokens": 40},
}
IS_ROOT = os.geteuid() == 0


def _run(*cmd: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, check=False)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[Path]:
    """``path`` (a file or a directory, with its files) made read-only for this process."""
    if IS_ROOT:
        if shutil.which("mount") is None:
            pytest.skip("running as root without 'mount': cannot make a path read-only")
        done = _run("mount", "--bind", str(path), str(path))
        if done.returncode != 0:
            pytest.skip(f"cannot bind-mount read-only here: {done.stderr.strip()}")
        try:
            done = _run("mount", "-o", "remount,bind,ro", str(path))
            if done.returncode != 0:
                pytest.skip(f"cannot remount read-only here: {done.stderr.strip()}")
            yield path
        finally:
            if _run("umount", str(path)).returncode != 0:
                _run("umount", "-l", str(path))
        return
    paths = [path, *path.iterdir()] if path.is_dir() else [path]
    modes = {p: stat.S_IMODE(p.stat().st_mode) for p in paths}
    try:
        for p in paths:
            p.chmod(modes[p] & ~0o222)
        yield path
    finally:
        for p, mode in modes.items():
            p.chmod(mode)


def seeded_store(path: Path) -> list[dict[str, Any]]:
    """A store with turns, entries and history; returns its export."""
    with Memory(path, config=CONFIG) as mem:
        for i in range(6):
            mem.add(f"fact {i}: Maya's cat Pixel eats salmon on day {i}", user_id="maya")
        mem.flush()
        mem.consolidate()
        assert mem.get_all(user_id="maya")
        return list(mem.export())


def export_of(path: Path) -> list[dict[str, Any]]:
    with Memory(path, config=CONFIG) as mem:
        return list(mem.export())


def test_read_only_database_file_serves_reads_and_refuses_writes(tmp_path: Path) -> None:
    store = tmp_path / "store"
    before = seeded_store(store)
    with Memory(tmp_path / "other", config=CONFIG) as other:
        other.add("a fact of another store", user_id="omar")
        elsewhere = list(other.export())
    with read_only(store / SQLITE_FILE), Memory(store, config=CONFIG) as mem:
        hits = mem.search("what does Pixel eat", user_id="maya")
        assert hits and "Pixel" in hits[0].text
        entry = mem.get_all(user_id="maya")[0]
        writes = {
            "add": lambda: mem.add("a new fact", user_id="maya"),
            "update": lambda: mem.update(entry.id, "changed text"),
            "delete": lambda: mem.delete(entry.id),
            "delete_all": lambda: mem.delete_all(user_id="maya"),
            "import": lambda: mem.import_records(elsewhere),
        }
        for name, write in writes.items():
            with pytest.raises(StorageError, match="read-only") as err:
                write()
            assert "SQLITE_READONLY" in str(err.value), (name, err.value)
        assert mem.search("what does Pixel eat", user_id="maya")  # still serving reads
    assert export_of(store) == before  # nothing changed, nothing corrupted
    sqlite_integrity(store)
    with Memory(store, config=CONFIG) as mem:  # writable again: work goes on
        mem.add("a fact after the outage", user_id="maya")
        mem.flush()
        assert_entries_whole(mem, Scope("maya"))


def test_read_only_store_directory_is_a_clear_storage_error(tmp_path: Path) -> None:
    store = tmp_path / "store"
    before = seeded_store(store)
    with read_only(store), pytest.raises(StorageError, match="read-only") as err:
        Memory(store, config=CONFIG)
    assert "writable" in str(err.value)  # it says what to do
    assert export_of(store) == before
    sqlite_integrity(store)


def test_read_only_config_file_is_a_storage_error_or_ignored(tmp_path: Path) -> None:
    store = tmp_path / "store"
    seeded_store(store)
    with read_only(store / CONFIG_FILE):
        try:
            with Memory(store, config=CONFIG) as mem:
                assert mem.search("Pixel", user_id="maya")
        except StorageError as exc:
            assert "read-only" in str(exc) or "config" in str(exc)


def fill(mem: Memory, user: str, start: int = 0) -> tuple[set[str], StorageError]:
    """Add turns until the store refuses; the acknowledged labels and the error."""
    acked: set[str] = set()
    for i in range(start, start + 1_000_000):
        try:
            mem.add(f"note {user}-{i} " + "lorem ipsum dolor sit amet " * 8, user_id=user)
        except StorageError as exc:
            return acked, exc
        acked.add(f"{user}-{i}")
    raise AssertionError("the store never filled up")


def assert_full_error(exc: StorageError) -> None:
    text = str(exc)
    assert "full" in text.lower() and "SQLITE_FULL" in text, text


def check_after_full(store: Path, acked: set[str], unacked_ok: bool = True) -> int:
    """Reopen: every acknowledged turn once, the pipeline resumes, the file is sound."""
    sqlite_integrity(store)
    with Memory(store, config=CONFIG) as mem:
        stored = [t.content.split()[1] for t in mem.turns(user_id="maya")]
        assert_exactly_once(stored, acked)
        mem.add("note maya-after the disk was freed", user_id="maya")
        mem.flush()
        assert all(t.stage == TurnStage.EXTRACTED for t in mem.turns(user_id="maya"))
        assert_entries_whole(mem, Scope("maya"))
        assert mem.search("disk was freed", user_id="maya")
    sqlite_integrity(store)
    return len(stored)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs (root only)."""
    if not IS_ROOT or shutil.which("mount") is None:
        pytest.skip("a tiny filesystem needs root and 'mount'; the max_page_count test covers it")
    where = tmp_path / "tiny"
    where.mkdir()
    done = _run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(where))
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        if _run("umount", str(where)).returncode != 0:
            _run("umount", "-l", str(where))


def test_disk_full_is_a_storage_error_and_committed_turns_survive(tiny_fs: Path) -> None:
    store = tiny_fs / "store"
    filler = tiny_fs / "filler"
    filler.write_bytes(b"\0" * 320 * 1024)  # freed later, to let work resume
    with Memory(store, config=CONFIG) as mem:
        acked, exc = fill(mem, "maya")
        assert_full_error(exc)
        assert "disk" in str(exc)
        assert acked, "not one turn fitted"
        # One more add: refused while the disk is full, or (when the rolled-back write left
        # room for a small one) acknowledged, its processing deferred; never lost.
        try:
            extra = mem.add("note maya-extra one more", user_id="maya")
        except StorageError as again:
            assert_full_error(again)
        else:
            acked.add("maya-extra")
            assert extra.turn_ids and extra.deferred is not None
        assert mem.search("lorem ipsum", user_id="maya")  # reads still work
    filler.unlink()
    stored = check_after_full(store, acked)
    print(f"\ndisk full after acknowledged_turns={len(acked)} stored={stored}: {exc}")


def test_database_full_is_a_storage_error_and_committed_turns_survive(tmp_path: Path) -> None:
    store = tmp_path / "store"
    with Memory(store, config=CONFIG) as mem:
        mem.add("note maya-first", user_id="maya")
        # The store's own connection, capped a few pages above its size: SQLITE_FULL.
        conn = mem.store._db._conn  # type: ignore[attr-defined]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 12}")
        acked, exc = fill(mem, "maya")
        assert_full_error(exc)
        assert mem.search("lorem ipsum", user_id="maya")
    stored = check_after_full(store, acked | {"maya-first"})
    print(f"\ndatabase full after acknowledged_turns={len(acked)} stored={stored}: {exc}")
