"""What a first-time user hit: a store path that cannot be a store, and a redirected ingest
that printed nothing for minutes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from rich.progress import Progress, TaskID

from lightmem import Memory, StorageError
from lightmem.cli.ingest import add_conversation
from lightmem.datasets import Conversation, DatasetTurn

CONFIG = {"embedder": {"provider": "hash"}, "llm": "none"}


def test_a_store_path_that_is_a_file_says_what_to_change(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    with pytest.raises(StorageError, match="is a file, not a directory"):
        Memory(path, config=CONFIG)


def test_a_store_on_a_read_only_mount_says_what_to_change(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    mounted = False
    if os.geteuid() == 0 and shutil.which("mount"):
        # as root a chmod does not stop writes: a read-only tmpfs does
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)],
            capture_output=True,
            check=False,
        )
        mounted = done.returncode == 0
    if not mounted:
        if os.geteuid() == 0:
            pytest.skip("root without mount: no read-only place to try")
        os.chmod(ro, 0o500)
    try:
        with pytest.raises(StorageError, match="writable"):
            Memory(ro / "store", config=CONFIG)
    finally:
        if mounted:
            subprocess.run(["umount", str(ro)], check=False)
        else:
            os.chmod(ro, 0o700)


def test_a_store_under_a_path_that_cannot_be_created_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="cannot create the store directory"):
        Memory(blocker / "sub" / "store", config=CONFIG)


def test_ingest_redirected_logs_progress_lines(cli: Any, tmp_path: Path) -> None:
    data = [
        {
            "sample_id": "c1",
            "conversation": {
                "speaker_a": "A",
                "speaker_b": "B",
                "session_1_date_time": "1:56 pm on 8 May, 2023",
                "session_1": [
                    {"speaker": "A", "dia_id": f"D1:{i}", "text": f"turn number {i} here"}
                    for i in range(1, 6)
                ],
            },
            "qa": [],
        }
    ]
    src = tmp_path / "tiny.json"
    src.write_text(json.dumps(data))
    r = cli("ingest", "--format", "locomo", str(src))
    assert r.code == 0, r.stderr
    assert "c1: 5/5" in r.stderr and "extracting: 1/1" in r.stderr


class Recorded(Progress):
    """A real progress display that also keeps each task's completed count after every step."""

    def __init__(self) -> None:
        super().__init__(disable=True)
        self.steps: list[float] = []

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self.steps.append(self._tasks[task_id].completed)


def test_ingest_progress_moves_while_the_turns_are_stored(tmp_path: Path) -> None:
    """The bar stood at 0/8944 for a whole ingest, then jumped to done."""
    turns = [
        DatasetTurn(f"D{i}", f"s{i // 100}", "user", "A", f"turn number {i} about things", None)
        for i in range(600)
    ]
    turns[5] = DatasetTurn("D5", "s0", "user", "A", "   ", None)  # an empty turn: skipped
    with Memory(tmp_path / "s", config=CONFIG) as mem:
        progress = Recorded()
        task = progress.add_task("c1", total=len(turns))
        counts = add_conversation(mem, Conversation("c1", turns, []), progress, task)
    assert counts.turns == 599 and counts.skipped_turns == 1
    assert progress.steps == [1, 257, 513, 600]
