"""Several processes on one store at once: writers that add, flush, consolidate and search
(each on its own user and on a user they share), and one process that consolidates every
user over and over while a thread searches. No error of any kind may reach a caller, and
every acknowledged turn is stored exactly once and extracted.

``STORES`` is the parametrization hook for other backends: a function of the test's
``request`` and ``tmp_path`` giving the ``store`` config section. PostgreSQL goes there as
``request.getfixturevalue("pg_server")`` (``tests/pg.py``) and a schema per test.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lightmem import Memory
from lightmem.llm.scripted import ScriptedLLM
from lightmem.types import Batch, Scope, TurnStage
from tests.support.integrity import assert_entries_whole, assert_exactly_once, sqlite_integrity
from tests.support.soak import scaled
from tests.support.workers import connector, consolidator, context, opener, writer

BASE: dict[str, Any] = {
    "embedder": {"provider": "hash", "options": {"dim": 32}},
    "llm": {"provider": "tests.fakes.echo_llm.EchoLLM", "options": {"delay": 0.002}},
    "buffer": {"sensory_tokens": 30, "shortterm_tokens": 40},
    "consolidation": {"threshold": 0.3, "workers": 2},
}

#: backend name -> the store section for a test ({} = the default SQLite file).
STORES: dict[str, Callable[[pytest.FixtureRequest, Path], dict[str, Any]]] = {
    "sqlite": lambda request, tmp_path: {},
}
JOIN_TIMEOUT_S = 600


def config(store_section: dict[str, Any]) -> dict[str, Any]:
    return {**BASE, "store": store_section} if store_section else dict(BASE)


def run_processes(
    store: Path, cfg: dict[str, Any], work: Path, writers: int, turns: int, shared: bool
) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    """Start the writers and the consolidator together; wait for all; their results."""
    ctx = context()
    users = [f"own{k}" for k in range(writers)]
    barrier = ctx.Barrier(writers + 1)
    done = ctx.Event()
    procs = []
    for k in range(writers):
        mine = [users[k], "shared"] if shared else [users[k]]
        args = (
            str(store),
            cfg,
            f"w{k}",
            mine,
            turns,
            barrier,
            str(work / f"w{k}.json"),
            str(work / f"w{k}.err"),
        )
        procs.append(ctx.Process(target=writer, args=args, daemon=True))
    cons = ctx.Process(
        target=consolidator,
        args=(
            str(store),
            cfg,
            [*users, "shared"] if shared else users,
            barrier,
            done,
            str(work / "c.json"),
            str(work / "c.err"),
        ),
        daemon=True,
    )
    for p in [*procs, cons]:
        p.start()
    for p in procs:
        p.join(JOIN_TIMEOUT_S)
    done.set()
    cons.join(JOIN_TIMEOUT_S)
    errs = [f.read_text()[-3000:] for f in sorted(work.glob("*.err")) if f.read_text().strip()]
    for p in [*procs, cons]:
        assert p.exitcode == 0, f"a process ended with {p.exitcode}:\n" + "\n".join(errs)
    results = [json.loads((work / f"w{k}.json").read_text()) for k in range(writers)]
    return results, json.loads((work / "c.json").read_text()), users + ["shared"] * shared


@pytest.mark.parametrize("backend", sorted(STORES))
@pytest.mark.parametrize(
    "users",
    [
        "own",
        pytest.param("shared"),
    ],
)
def test_processes_share_one_store(
    request: pytest.FixtureRequest, tmp_path: Path, backend: str, users: str
) -> None:
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    cfg = config(STORES[backend](request, tmp_path))
    Memory(store, config=cfg).close()  # created once; the processes open it together
    writers, turns = 4, scaled(40, 400)
    started = time.monotonic()
    results, cons, owners = run_processes(store, cfg, work, writers, turns, users == "shared")
    seconds = time.monotonic() - started

    errors = [e for r in results for e in r["errors"]] + cons["errors"]
    kinds = Counter(f"{op}: {kind}" for op, kind, _ in errors)
    ops: Counter[str] = Counter()
    for r in [*results, cons]:
        ops.update(r["ops"])
    acked = {label for r in results for label in r["acked"]}
    print(f"\nprocesses={writers + 1} ops={dict(ops)} errors={dict(kinds)} s={seconds:.1f}")
    assert not errors, f"{len(errors)} error(s) reached callers: {dict(kinds)}\n" + "\n".join(
        f"{op} {kind}: {msg}" for op, kind, msg in errors[:5]
    )

    with Memory(store, config=cfg) as mem:
        stored: list[str] = []
        for user in owners:
            stored += [t.content.split()[2] for t in mem.turns(user_id=user)]
        assert_exactly_once(stored, acked)
        mem.flush()
        mem.consolidate()
        checked = 0
        for user in owners:
            assert all(t.stage == TurnStage.EXTRACTED for t in mem.turns(user_id=user)), user
            checked += assert_entries_whole(mem, Scope(user)).entries
    if backend == "sqlite":
        sqlite_integrity(store)
    print(f"turns_acked={len(acked)} turns_stored={len(stored)} entries_checked={checked}")


def run_children(
    target: Callable[..., None], args: Callable[[int], tuple[Any, ...]], work: Path, n: int
) -> list[dict[str, Any]]:
    """Start ``n`` children on ``target(*args(k), barrier, result, err)`` at once, wait for
    all (each must exit 0), and return their JSON results in order."""
    ctx = context()
    barrier = ctx.Barrier(n)
    procs = [
        ctx.Process(
            target=target,
            args=(*args(k), barrier, str(work / f"c{k}.json"), str(work / f"c{k}.err")),
            daemon=True,
        )
        for k in range(n)
    ]
    for p in procs:
        p.start()
    for k, p in enumerate(procs):
        p.join(JOIN_TIMEOUT_S)
        assert p.exitcode == 0, (work / f"c{k}.err").read_text()[-3000:]
    return [json.loads((work / f"c{k}.json").read_text()) for k in range(n)]


def run_openers(
    store: Path, cfg: dict[str, Any] | None, work: Path, processes: int, rounds: int
) -> tuple[set[str], list[list[str]]]:
    results = run_children(opener, lambda k: (str(store), cfg, f"p{k}", rounds), work, processes)
    acked = {a for r in results for a in r["acked"]}
    return acked, [e for r in results for e in r["errors"]]


def test_processes_create_a_new_store_at_once(tmp_path: Path) -> None:
    """Four processes open a store that does not exist yet at the same moment: one creates
    it (schema migrations, the vector dimension), the others wait for it and use it."""
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    acked, errors = run_openers(store, BASE, work, 4, 1)
    print(f"\nprocesses=4 opened={len(acked)} errors={errors}")
    assert not errors, errors[:5]
    with Memory(store, config=BASE) as mem:
        stored = [t.content.split()[2] for k in range(4) for t in mem.turns(user_id=f"p{k}")]
        assert_exactly_once(stored, acked)
    sqlite_integrity(store)


def test_processes_connect_to_a_new_file_at_once(tmp_path: Path) -> None:
    """Six processes connect to a file that does not exist yet, twenty times: the switch to
    WAL mode needs the file's exclusive lock, and two that both read it first deadlock, which
    SQLite answers with an immediate ``database is locked`` that skips the busy timeout. The
    connection retries the switch, so no caller sees it (before it did, a third of rounds
    failed)."""
    n, rounds = 6, 20
    results = run_children(connector, lambda k: (str(tmp_path), rounds), tmp_path, n)
    errors = [e for r in results for e in r["errors"]]
    assert not errors, errors[:3]


def test_processes_reopen_a_store_from_its_saved_config(tmp_path: Path) -> None:
    """``Memory(path)`` reads the config saved beside the store, which every open writes
    again: processes opening the same store at once must never read a half-written one."""
    store, work = tmp_path / "store", tmp_path / "work"
    work.mkdir()
    Memory(store, config=BASE).close()
    rounds = scaled(25, 200)
    acked, errors = run_openers(store, None, work, 4, rounds)
    kinds = Counter(kind for kind, _ in errors)
    print(f"\nprocesses=4 opens={4 * rounds} ok={len(acked)} errors={dict(kinds)}")
    assert not errors, errors[:3]


# -- the races behind the shared-user failures, one at a time ------------------------------------
#: Two Memory objects on one file are two connections, exactly as two processes have; each
#: race below lets one of them change the state the other has just read.
RACE_CONFIG: dict[str, Any] = {
    "embedder": {"provider": "hash", "options": {"dim": 32}},
    "llm": "scripted",
    "buffer": {"sensory_tokens": 100_000, "shortterm_tokens": 100_000},
    "extraction": {"max_retries": 0},
}
GOOD_REPLY = {"memories": [{"text": "Maya adopted a cat called Pixel.", "sources": [1]}]}


def lose_race(a: Memory, b: Memory, where: str) -> None:
    """Set ``b`` up so that its next ``flush`` loses the race named ``where`` to ``a``
    (the same store and user): ``a`` gets in between ``b``'s read and its write."""
    assert isinstance(a.llm, ScriptedLLM) and isinstance(b.llm, ScriptedLLM)
    a.llm.respond_with(lambda messages, schema: GOOD_REPLY)

    def a_first() -> None:
        a.flush(user_id="maya")

    if where == "segmenting":  # b has read the buffer; a segments it first
        boundaries = b.parts.segmenter.boundaries

        def cut(turns: Any, matrix: Any) -> list[int]:
            a_first()
            return boundaries(turns, matrix)

        b.parts.segmenter.boundaries = cut  # type: ignore[method-assign]
    elif where == "batching":  # b has planned a batch; a batches the same turns first
        b.flush(user_id="maya", extract=False)
        create_batch = b.store.create_batch

        def create(batch: Batch) -> None:
            a_first()
            create_batch(batch)

        b.store.create_batch = create  # type: ignore[method-assign]
    elif where == "failing":  # b's extraction fails while a completes the same batch
        b.flush(user_id="maya", extract=False)
        turn_ids = [t.id for t in b.turns(user_id="maya")]
        b.store.create_batch(Batch(uuid.uuid4().hex, Scope("maya"), turn_ids))

        def bad_reply(messages: Any, schema: Any) -> str:
            a_first()
            return "not json"

        b.llm.respond_with(bad_reply)


@pytest.mark.parametrize("where", ["segmenting", "batching", "failing"])
def test_losing_a_pipeline_race_is_no_error(tmp_path: Path, where: str) -> None:
    with (
        Memory(tmp_path / "store", config=RACE_CONFIG) as a,
        Memory(tmp_path / "store", config=RACE_CONFIG) as b,
    ):
        a.add("I adopted a cat called Pixel", user_id="maya")
        lose_race(a, b, where)
        b.flush(user_id="maya")
        (turn,) = b.turns(user_id="maya")
        assert turn.stage == TurnStage.EXTRACTED and len(b.get_all(user_id="maya")) == 1
