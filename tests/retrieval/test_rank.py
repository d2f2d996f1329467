"""The array work under every search: the best rows of a ranking (exact ties), and the
matrix-vector product a large owner shares with a helper thread without ever waiting for
it."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from lightmem.retrieval import rank


def exact_top(scores: np.ndarray, usable: np.ndarray, depth: int) -> list[int]:
    rows = [int(i) for i in np.flatnonzero(usable)]
    return sorted(rows, key=lambda i: (-float(scores[i]), i))[:depth]


def test_top_takes_the_best_usable_rows_and_breaks_ties_by_row() -> None:
    rng = np.random.default_rng(7)
    for trial in range(2000):
        m = int(rng.integers(0, 80))
        # few distinct values: many ties, also where the cut falls
        scores = rng.integers(0, 5, m).astype(np.float32) if trial % 2 else rng.random(m)
        usable = rng.random(m) < rng.random()
        depth = int(rng.integers(1, 90))
        assert rank.top(scores.astype(np.float32), usable, depth) == exact_top(
            scores, usable, depth
        )


def test_top_of_nothing_usable() -> None:
    assert rank.top(np.ones(5, dtype=np.float32), np.zeros(5, dtype=bool), 3) == []


def blocks(matrix: np.ndarray, vector: np.ndarray) -> np.ndarray:
    return np.concatenate(
        [matrix[i : i + rank.BLOCK] @ vector for i in range(0, len(matrix), rank.BLOCK)]
    )


@pytest.mark.parametrize("rows", [10, rank.SHARED_ROWS - 1, rank.SHARED_ROWS, 40_000])
def test_matvec_is_the_product_block_by_block(rows: int) -> None:
    rng = np.random.default_rng(rows)
    matrix = rng.random((rows, 64), dtype=np.float32)
    vector = rng.random(64, dtype=np.float32)
    assert np.array_equal(rank.matvec(matrix, vector), blocks(matrix, vector))


class _Slow(np.ndarray):
    """A matrix whose blocks take long on the helper's thread (one waiting for a core)."""

    def __matmul__(self, other: Any) -> Any:
        if threading.current_thread().name.startswith("slow-helper"):
            time.sleep(0.5)
        return np.asarray(self) @ other


class _Helper:
    def __init__(self) -> None:
        self.threads: list[threading.Thread] = []

    def submit(self, fn: Callable[[], None]) -> None:
        thread = threading.Thread(target=fn, name=f"slow-helper-{len(self.threads)}")
        self.threads.append(thread)
        thread.start()


def test_matvec_never_waits_for_a_helper_that_has_no_core(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rng = np.random.default_rng(1)
    plain = rng.random((rank.SHARED_ROWS * 2, 32), dtype=np.float32)
    vector = rng.random(32, dtype=np.float32)
    helper = _Helper()
    monkeypatch.setattr(rank, "_helping", lambda: helper)
    start = time.perf_counter()
    out = rank.matvec(plain.view(_Slow), vector)
    took = time.perf_counter() - start
    # the helper took a block and sleeps on it: the caller computed that block too
    assert took < 0.4 and np.array_equal(out, blocks(plain, vector))
    helper.threads[0].join(5)
    assert np.array_equal(out, blocks(plain, vector))  # its late write changes nothing


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_gets_a_helper_of_its_own() -> None:
    rng = np.random.default_rng(2)
    matrix = rng.random((rank.SHARED_ROWS, 16), dtype=np.float32)
    vector = rng.random(16, dtype=np.float32)
    rank.matvec(matrix, vector)  # the parent's helper exists now
    parent = rank._helping()
    pid = os.fork()
    if pid == 0:  # the child: its own helper, whose thread runs
        ok = rank._helper is None and np.array_equal(
            rank.matvec(matrix, vector), blocks(matrix, vector)
        )
        helper = rank._helping()
        ok = ok and helper is not parent and helper.submit(lambda: 7).result(5) == 7
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
