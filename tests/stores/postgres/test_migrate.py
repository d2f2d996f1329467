"""Moving a store between backends: SQLite -> PostgreSQL -> SQLite gives the same records,
vectors bit for bit; the ``migrate`` command does the same from the command line."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from lightmem import Memory
from lightmem.cli.migrate import migrate as migrate_command
from lightmem.cli.migrate import parse_spec
from lightmem.errors import InputError, StorageError
from lightmem.longterm.forgetting import ttl_key
from lightmem.stores.migrate import migrate
from lightmem.stores.sql.transfer import KINDS
from lightmem.stores.sqlite import SQLiteStore
from lightmem.types import Scope, StoredKey
from tests.pg import PgServer
from tests.stores.contract.test_store_contract import (
    ALICE,
    BOB,
    DIM,
    entry,
    ids,
    populate,
    turn,
    vec,
)


def sqlite_store(path: Path) -> SQLiteStore:
    store = SQLiteStore(SQLiteStore.Options(path=str(path)))
    store.open(DIM)
    return store


def test_sqlite_to_postgres_and_back_is_lossless(pg_server: PgServer, tmp_path: Path) -> None:
    source = sqlite_store(tmp_path / "source.db")
    populate(source)  # every kind: stages, statuses, updates, deletes, merges, pairs, calls
    # the library's values beside the records: embedder, counters, a default TTL, failures
    library_meta = {
        "embedder": "hash-8",
        "counter:invalid_sources": "3",
        "counter:repaired_sources": "2",
        ttl_key(ALICE): "86400.0",
        "failures": '[{"where": "summary"}]',
    }
    for key, value in library_meta.items():
        source.set_meta(key, value)
    # who may use the store: an API key (its hash) and a grant on a shared pool
    source.add_api_key(StoredKey("ka", "ab" * 32, False, (("alice", None),), "2024-05-01T10:00"))
    source.set_grant(ALICE, BOB, "read", created_at=datetime(2024, 5, 2, 9, 30))
    middle = pg_server.store(tmp_path, "middle")
    middle.open(DIM)
    back = sqlite_store(tmp_path / "back.db")
    try:
        counts = migrate(source, middle)
        assert counts == {
            **{k: sum(r["kind"] == k for r in source.export_records()) for k in KINDS},
            "meta": len(library_meta),
            "api_key": 1,
            "grant": 1,
        }
        migrate(middle, back)
        original = list(source.export_records())
        assert list(middle.export_records()) == original
        assert list(back.export_records()) == original
        assert middle.meta_items() == back.meta_items() == library_meta
        assert middle.list_api_keys() == back.list_api_keys() == source.list_api_keys()
        assert middle.list_grants() == back.list_grants() == source.list_grants()
        assert [(g.level, g.created_at) for g in back.list_grants(grantee=BOB)] == [
            ("read", datetime(2024, 5, 2, 9, 30))
        ]
        for scope in (ALICE, BOB):  # the same entries are found on either backend
            assert ids(middle.search_dense(scope, vec(1, 0.3), 10)) == ids(
                source.search_dense(scope, vec(1, 0.3), 10)
            )
            query = "Alice espresso hiking dogs"
            assert ids(middle.search_bm25(scope, query, 10)) == ids(
                source.search_bm25(scope, query, 10)
            )
        # schema 6 travels: images on entries (their captions searchable), image vectors,
        # forgotten turns, decisions
        assert ids(middle.search_bm25(ALICE, "dunes", 5)) == ["e5"]
        assert ids(back.search_bm25(ALICE, "dunes", 5)) == ["e5"]
        assert (
            back.image_vectors(ALICE, "img-m").keys() == source.image_vectors(ALICE, "img-m").keys()
        )
        assert [t.id for t in back.list_turns(ALICE) if t.forgotten] == ["t5"]
        assert [d.decision for d in middle.decisions("e5")] == ["ignore"]
        assert middle.consolidation_queue() == source.consolidation_queue()
        assert middle.usage() == source.usage()
        later = middle.add_turns([turn("later")])
        assert later[0].seq > max(r["seq"] for r in original if r["kind"] == "turn")
    finally:
        for store in (source, middle, back):
            store.close()


def test_migrate_refuses_a_destination_that_is_not_empty(
    pg_server: PgServer, tmp_path: Path
) -> None:
    source = sqlite_store(tmp_path / "source.db")
    populate(source)
    target = pg_server.store(tmp_path, "busy")
    target.open(DIM)
    try:
        target.add_entries([entry("x", "already here")], vec(1)[None, :], actor="user")
        with pytest.raises(StorageError, match="not empty"):
            migrate(source, target)
        assert [e.id for e in target.list_entries(ALICE)] == ["x"]
    finally:
        source.close()
        target.close()


def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("migrate")(migrate_command)
    app.command("noop")(lambda: None)  # more than one command: "migrate" is a subcommand
    return app


def test_the_migrate_command_moves_a_store_there_and_back(
    pg_server: PgServer, tmp_path: Path
) -> None:
    source = sqlite_store(tmp_path / "store" / "lightmem.sqlite3")
    populate(source)
    original = list(source.export_records())
    source.close()
    schema = pg_server.schema(tmp_path, "cli")
    runner = CliRunner()
    there = runner.invoke(
        cli(),
        [
            "migrate",
            "--from",
            f"sqlite:{tmp_path / 'store'}",
            "--to",
            f"postgres:{pg_server.url}",
            "--schema",
            schema,
            "--json",
        ],
    )
    assert there.exit_code == 0, there.output
    report = json.loads(there.stdout)
    assert report["records"]["entry"] == sum(r["kind"] == "entry" for r in original)
    assert pg_server.url not in there.output  # the DSN holds the password
    back = runner.invoke(
        cli(),
        [
            "migrate",
            "--from",
            f"postgres:{pg_server.url}",
            "--schema",
            schema,
            "--to",
            f"sqlite:{tmp_path / 'back.db'}",
        ],
    )
    assert back.exit_code == 0, back.output
    assert "migrated" in back.stdout
    copy = sqlite_store(tmp_path / "back.db")
    try:
        assert list(copy.export_records()) == original
    finally:
        copy.close()


def test_the_migrate_command_refuses_bad_specs_and_missing_stores(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="store spec"):
        parse_spec("mysql://x", "lightmem")
    with pytest.raises(InputError, match="needs a path"):
        parse_spec("sqlite:", "lightmem")
    result = CliRunner().invoke(
        cli(), ["migrate", "--from", f"sqlite:{tmp_path / 'none.db'}", "--to", "sqlite:x.db"]
    )
    assert isinstance(result.exception, InputError)
    assert "no store" in str(result.exception)
    assert not (tmp_path / "none.db").exists()  # looking did not create it


def test_the_migrate_command_keeps_what_the_library_set_beside_the_records(
    tmp_path: Path,
) -> None:
    """A default TTL (and the other values kept beside the records), the API keys and the
    grants survive ``lightmem migrate``: without them a user's memories would stop expiring,
    a server on the new store would refuse every client and every sharing would be gone."""
    config = {"embedder": {"provider": "hash", "options": {"dim": 16}}}
    with Memory(tmp_path / "src", config=config) as mem:
        mem.add("I moved to Ghent last spring.", user_id="alice")
        mem.flush()
        mem.set_default_ttl(timedelta(days=30), user_id="alice")
        mem.store.set_grant(Scope("alice"), Scope("bob"), "write")
        mem.store.add_api_key(StoredKey("ka", "cd" * 32, False, (("alice", None),), "2024"))
    result = CliRunner().invoke(  # a new path without a suffix is a new store directory
        cli(),
        [
            "migrate",
            "--from",
            f"sqlite:{tmp_path / 'src'}",
            "--to",
            f"sqlite:{tmp_path / 'dst'}",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)["records"]
    assert records["meta"] >= 2 and records["api_key"] == records["grant"] == 1
    assert (tmp_path / "dst" / "lightmem.sqlite3").is_file()
    with Memory(tmp_path / "dst", config=config) as mem:
        assert mem.default_ttl(user_id="alice") == timedelta(days=30)
        assert [e.text for e in mem.get_all(user_id="alice")]
        assert [(g.grantee, g.level) for g in mem.store.list_grants()] == [(Scope("bob"), "write")]
        assert [k.name for k in mem.store.list_api_keys()] == ["ka"]
