"""Code that runs in child processes: the crash writer (killed with SIGKILL) and the
concurrent writers. Children are forked from a ``forkserver`` that has LightMem imported
already, so starting one costs milliseconds instead of a fresh interpreter's second.

A child reports through files only (an append-only log of markers, a JSON result), never
through pipes or queues that a SIGKILL could leave half-written or locked.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import threading
import traceback
from multiprocessing.context import BaseContext
from pathlib import Path
from typing import Any

from lightmem import Memory
from lightmem.errors import LightMemError

#: Modules the fork server imports once, so every child starts warm.
PRELOAD = ["__main__", "lightmem", "lightmem.memory", "tests.fakes.echo_llm", __name__]


def context() -> BaseContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(PRELOAD)
    return ctx


class Log:
    """One marker per line, appended with a single ``write`` (atomic under SIGKILL)."""

    def __init__(self, path: str) -> None:
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def mark(self, text: str) -> None:
        os.write(self.fd, (text + "\n").encode())


def read_markers(path: Path) -> list[str]:
    if not path.exists():
        return []
    return [line for line in path.read_text().splitlines() if line]


def _redirect_stderr(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.dup2(fd, 2)
    os.close(fd)


# -- the crash writer ------------------------------------------------------------------------
def crash_text(i: int) -> str:
    return f"turn number {i} about topic {i % 7} with cats and trips"


def crash_writer(store: str, config: dict[str, Any], log_path: str, err_path: str) -> None:
    """Add turns for ever, flushing every 9th and consolidating every 13th, writing a
    marker before and after each step; the parent kills it at some point."""
    _redirect_stderr(err_path)
    log = Log(log_path)
    try:
        log.mark("start")
        mem = Memory(store, config=config)
        log.mark("open")
        # Resume after the last turn the store holds (it may be stored but unacknowledged).
        done = [int(t.content.split()[2]) for t in mem.turns(user_id="alice")]
        start = max(done) + 1 if done else 0
        for i in range(start, start + 100_000):
            log.mark(f"add {i}")
            mem.add(
                {"role": "user", "name": "Maya", "content": crash_text(i)},
                user_id="alice",
                session_id=f"s{i // 25}",
                timestamp=f"2024-01-01T00:{(i // 60) % 60:02d}:{i % 60:02d}",
            )
            log.mark(f"ack {i}")  # acknowledged: add() returned
            if i % 9 == 0:
                log.mark("flush")
                mem.flush()
                log.mark("flushed")
            if i % 13 == 0:
                log.mark("consolidate")
                mem.consolidate()
                log.mark("consolidated")
    except BaseException:
        log.mark("error")
        traceback.print_exc()
        raise


# -- concurrent writers ------------------------------------------------------------------------
def writer(
    store: str,
    config: dict[str, Any],
    name: str,
    users: list[str],
    turns: int,
    barrier: Any,
    result_path: str,
    err_path: str,
) -> None:
    """Add ``turns`` turns spread over ``users`` (own and shared ones), with flushes,
    consolidations and searches in between; every error is recorded, none stops it."""
    _redirect_stderr(err_path)
    rng = random.Random(name)
    out: dict[str, Any] = {"acked": [], "errors": [], "ops": {}}

    def run(op: str, fn: Any) -> Any:
        out["ops"][op] = out["ops"].get(op, 0) + 1
        try:
            return fn()
        except LightMemError as exc:
            out["errors"].append([op, type(exc).__name__, str(exc)[:500]])
        except Exception as exc:  # noqa: BLE001 - a non-LightMem error is the finding itself
            out["errors"].append([op, "CRASH " + type(exc).__name__, traceback.format_exc()])
        return None

    mem = run("open", lambda: Memory(store, config=config))
    barrier.wait()
    if mem is not None:
        for i in range(turns):
            user = users[i % len(users)]
            label = f"{name}-{i}"
            text = f"note {user} {label} about topic {i % 5} cats trips"
            message = {"role": "user", "content": text}
            if run("add", lambda m=message, u=user: mem.add(m, user_id=u)) is not None:
                out["acked"].append(label)
            if rng.random() < 0.2:
                run("flush", lambda u=user: mem.flush(user_id=u))
            if rng.random() < 0.1:
                run("consolidate", lambda u=user: mem.consolidate(user_id=u))
            if rng.random() < 0.3:
                run("search", lambda u=user: mem.search("topic cats", user_id=u))
        run("close", mem.close)
    Path(result_path).write_text(json.dumps(out))


def consolidator(
    store: str,
    config: dict[str, Any],
    users: list[str],
    barrier: Any,
    writers_done: Any,
    result_path: str,
    err_path: str,
) -> None:
    """Consolidate every user over and over while a thread searches, until the writers are
    done: searches run while consolidation rewrites entries."""
    _redirect_stderr(err_path)
    out: dict[str, Any] = {"errors": [], "ops": {"consolidate": 0, "search": 0}}
    lock = threading.Lock()

    def record(op: str, exc: BaseException) -> None:
        name = type(exc).__name__
        with lock:
            out["errors"].append(
                [op, name if isinstance(exc, LightMemError) else "CRASH " + name, str(exc)[:500]]
            )

    mem = Memory(store, config=config)
    barrier.wait()
    stop = threading.Event()

    def searcher() -> None:
        k = 0
        while not stop.is_set():
            user = users[k % len(users)]
            k += 1
            try:
                mem.search("topic cats trips", user_id=user)
            except Exception as exc:  # noqa: BLE001 - recorded and reported by the test
                record("search", exc)
            with lock:
                out["ops"]["search"] += 1

    thread = threading.Thread(target=searcher)
    thread.start()
    try:
        while True:
            finished = writers_done.is_set()
            for user in users:
                try:
                    mem.consolidate(user_id=user)
                except Exception as exc:  # noqa: BLE001 - recorded and reported by the test
                    record("consolidate", exc)
                out["ops"]["consolidate"] += 1
            if finished:
                break
            writers_done.wait(0.01)  # a breath between rounds, not a timing assumption
    finally:
        stop.set()
        thread.join()
        mem.close()
    Path(result_path).write_text(json.dumps(out))


def opener(
    store: str,
    config: dict[str, Any] | None,
    name: str,
    rounds: int,
    barrier: Any,
    result_path: str,
    err_path: str,
) -> None:
    """Open the store ``rounds`` times (with ``config``, or from the one saved beside it when
    None), adding one turn to the process's own user each time; record every error."""
    _redirect_stderr(err_path)
    out: dict[str, Any] = {"acked": [], "errors": []}
    barrier.wait()
    for i in range(rounds):
        try:
            with Memory(store, config=config) as mem:
                mem.add(f"opened by {name}-{i}", user_id=name)
            out["acked"].append(f"{name}-{i}")
        except Exception as exc:  # noqa: BLE001 - recorded and reported by the test
            out["errors"].append([type(exc).__name__, str(exc)[:500]])
    Path(result_path).write_text(json.dumps(out))


def connector(folder: str, rounds: int, barrier: Any, result_path: str, err_path: str) -> None:
    """In each round, connect at the same moment as the other processes to a SQLite file
    that does not exist yet (``round-N/lightmem.sqlite3``); record every error."""
    from lightmem.stores.sqlite.db import Database

    _redirect_stderr(err_path)
    out: dict[str, Any] = {"errors": []}
    for i in range(rounds):
        db = Database(str(Path(folder) / f"round-{i}" / "lightmem.sqlite3"), 30_000)
        barrier.wait()
        try:
            db.connect()
            db.close()
        except Exception as exc:  # noqa: BLE001 - recorded and reported by the test
            out["errors"].append([type(exc).__name__, str(exc)[:500]])
    Path(result_path).write_text(json.dumps(out))
