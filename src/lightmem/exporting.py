"""Exports as JSON Lines, a large one made in a process of its own.

Making an export is Python work from the first row to the last (row decoding, JSON): in a
server it holds the interpreter's lock for seconds, and every other tenant's request waits
its turn at it (a 15k-memory export put another tenant's p95 at 4x its idle figure). From
:data:`PROCESS_FROM_ROWS` rows on, the server runs it in a child process
(``python -m lightmem.exporting``) that opens the same store (a SQLite file or a PostgreSQL
database; an in-memory store cannot be shared) and writes the lines to a pipe, which the
server only relays. The child gets the store's section (with any secret in it) on its stdin,
never on its command line.

Both ways give the same bytes: the records of :meth:`Store.export_records` without the
memories that expired (:meth:`Forgetter.unexpired`), one ``json.dumps`` per line.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, Any

from lightmem.config import StoreSection
from lightmem.errors import StorageError
from lightmem.longterm.forgetting import Forgetter
from lightmem.registry import build
from lightmem.stores.base import Store
from lightmem.types import Scope

if TYPE_CHECKING:
    from lightmem.memory import Memory

log = logging.getLogger("lightmem.exporting")

#: Bytes of JSON Lines handed on at once. A server's response iterates in its thread pool, one
#: hop per piece: a piece per record made a 20,000-memory export 10x slower than the read.
CHUNK_BYTES = 256 * 1024
#: Rows (memories and turns of the scope) from which a server exports in a child process; a
#: smaller export is quicker made than a process is started (~0.4 s).
PROCESS_FROM_ROWS = 5000
#: The child's niceness: an export is background work beside the server's requests.
NICE = 10


def lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The records as JSON Lines, in pieces of about :data:`CHUNK_BYTES`."""
    piece: list[str] = []
    size = 0
    for rec in records:
        line = json.dumps(rec, ensure_ascii=False) + "\n"
        piece.append(line)
        size += len(line)
        if size >= CHUNK_BYTES:
            yield "".join(piece)
            piece, size = [], 0
    if piece:
        yield "".join(piece)


def export_lines(memory: Memory, scope: Scope | None) -> Iterator[str]:
    """The JSON Lines of ``scope`` (None: the whole store). A large export of a store another
    process can open is made in a child process; its first piece is read before this returns,
    so a store that fails does so here, not in the middle of a response."""
    section = _shareable(memory)
    if section is None or _rows(memory.store, scope) < PROCESS_FROM_ROWS:
        return _first_read(lines(memory.export(**_who(scope))))
    return _first_read(_child(section, memory.embedder.dim, scope))


def _first_read(pieces: Iterator[str]) -> Iterator[str]:
    first = next(pieces, None)
    return iter(()) if first is None else _chain(first, pieces)


def _chain(first: str, rest: Iterator[str]) -> Iterator[str]:
    try:
        yield first
        yield from rest
    finally:
        close = getattr(rest, "close", None)
        if close is not None:
            close()


def _who(scope: Scope | None) -> dict[str, str | None]:
    return {} if scope is None else {"user_id": scope.user_id, "agent_id": scope.agent_id}


def _shareable(memory: Memory) -> StoreSection | None:
    """The store's section when a child process can open the same store."""
    from lightmem.engine import storedir

    section = storedir.store_section(memory.config, memory.path)
    if section.provider == "postgres":
        return section
    if section.provider == "sqlite" and section.options.get("path") != ":memory:":
        return section
    return None


def _rows(store: Store, scope: Scope | None) -> int:
    entries = store.count_entries(scope, include_deleted=True)
    return entries + (store.count_turns(scope) if scope is not None else entries)


def _child(section: StoreSection, dim: int, scope: Scope | None) -> Iterator[str]:
    """The child's lines as it writes them; it is ended if the reader stops early."""
    job = {
        "store": section.model_dump(mode="json"),
        "dim": dim,
        "scope": None if scope is None else [scope.user_id, scope.agent_id],
    }
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-P", "-m", "lightmem.exporting"],  # -P: not from the cwd
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        try:
            yield from _relay(proc, json.dumps(job).encode(), errors)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


def _relay(proc: subprocess.Popen[bytes], job: bytes, errors: IO[bytes]) -> Iterator[str]:
    assert proc.stdin is not None and proc.stdout is not None
    with proc.stdin:
        proc.stdin.write(job)
    pending = b""
    while chunk := os.read(proc.stdout.fileno(), CHUNK_BYTES):
        pending += chunk
        cut = pending.rfind(b"\n") + 1  # whole lines (and whole UTF-8 characters)
        if len(pending) >= CHUNK_BYTES and cut:
            yield pending[:cut].decode("utf-8")
            pending = pending[cut:]
    if proc.wait() != 0:
        errors.seek(0)
        said = errors.read().decode("utf-8", "replace").strip().splitlines()
        log.warning("the export process failed (exit %s)", proc.returncode)
        raise StorageError(f"the export failed: {said[-1] if said else 'no message'}")
    if pending:
        yield pending.decode("utf-8")


def main() -> None:
    """The child: a job on stdin (the store section, the vector dimension, the scope), the
    export's JSON Lines on stdout; an error's message on stderr and a non-zero exit."""
    job = json.load(sys.stdin)
    if hasattr(os, "nice"):
        os.nice(NICE)  # the server's requests come first when the cores are busy
    section = StoreSection.model_validate(job["store"])
    path = section.options.get("path")
    if section.provider == "sqlite" and not (isinstance(path, str) and os.path.isfile(path)):
        raise StorageError(f"no SQLite store at {path!r} to export from")  # never a new one
    store: Store = build("store", section, Store)
    store.open(int(job["dim"]))
    try:
        who = job["scope"]
        scope = None if who is None else Scope(user_id=who[0], agent_id=who[1])
        records = Forgetter(store).unexpired(store.export_records(scope))
        out = sys.stdout.buffer
        for piece in lines(records):
            out.write(piece.encode("utf-8"))
        out.flush()
    finally:
        store.close()


if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001 - the parent reads the message from stderr
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
