"""``lightmem migrate --from SPEC --to SPEC``: move a store to another backend.

A store is named by a spec: ``sqlite:PATH`` (the database file, or a store directory that
holds ``lightmem.sqlite3``; a new path without a suffix is a new store directory) or
``postgres:URL`` (a ``postgresql://`` DSN; ``postgres:`` alone takes
``$LIGHTMEM_POSTGRES_URL``) in the schema given by ``--schema``. The vector dimension is
read from the source store. Nothing is printed that holds a password. API keys (their
hashes) and grants travel with the records.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import typer

from lightmem.cli.state import JsonOpt, emit_json, note, out
from lightmem.engine.storedir import SQLITE_FILE
from lightmem.errors import InputError, StorageError
from lightmem.stores.base import Store
from lightmem.stores.migrate import migrate as migrate_store
from lightmem.stores.postgres import PostgresStore
from lightmem.stores.postgres.store import URL_ENV
from lightmem.stores.sqlite import SQLiteStore

SPEC_HELP = "sqlite:PATH (file or store directory) or postgres:URL (postgresql://...)"


@dataclass(frozen=True, slots=True)
class StoreSpec:
    kind: Literal["sqlite", "postgres"]
    location: str  # a file path, or a DSN
    schema: str = "lightmem"

    @property
    def shown(self) -> str:
        """The spec for messages: the path, or the PostgreSQL schema (never the DSN)."""
        if self.kind == "sqlite":
            return f"sqlite:{self.location}"
        return f"postgres (schema {self.schema!r})"

    def store(self) -> Store:
        if self.kind == "sqlite":
            return SQLiteStore(SQLiteStore.Options(path=self.location))
        return PostgresStore(PostgresStore.Options(url=self.location, schema=self.schema))

    def stored_dim(self) -> int | None:
        """The dimension of the store at this spec, or None if there is no store there."""
        if self.kind == "postgres":
            store = self.store()
            assert isinstance(store, PostgresStore)
            return store.stored_dim()
        if not Path(self.location).is_file():
            return None
        try:
            conn = sqlite3.connect(f"file:{Path(self.location).resolve()}?mode=ro", uri=True)
            try:
                row = conn.execute("SELECT value FROM meta WHERE key = 'dim'").fetchone()
            finally:
                conn.close()
        except sqlite3.Error as exc:
            raise StorageError(f"{self.shown}: cannot read its dimension: {exc}") from exc
        return None if row is None else int(row[0])


def parse_spec(text: str, schema: str) -> StoreSpec:
    kind, sep, rest = text.partition(":")
    if sep and kind == "sqlite":
        if not rest:
            raise InputError("sqlite: needs a path, e.g. sqlite:./memory.sqlite3")
        path = Path(rest).expanduser()
        # a directory, or a new path that reads as one (no suffix, or a trailing slash), is a
        # store directory, as ``--store`` takes it: its file is lightmem.sqlite3
        folder = path.is_dir() or (not path.exists() and (rest.endswith("/") or not path.suffix))
        return StoreSpec("sqlite", str((path / SQLITE_FILE if folder else path).resolve()))
    if sep and kind in ("postgres", "postgresql"):
        url = text if rest.startswith("//") else rest  # "postgresql://..." as given
        url = url or os.environ.get(URL_ENV, "")
        if not url:
            raise InputError(f"postgres: needs a URL, e.g. postgres:postgresql://... or {URL_ENV}")
        return StoreSpec("postgres", url, schema)
    raise InputError(f"cannot read the store spec {text!r}: use {SPEC_HELP}")


def migrate(
    source: Annotated[str, typer.Option("--from", metavar="SPEC", help=f"From: {SPEC_HELP}.")],
    target: Annotated[str, typer.Option("--to", metavar="SPEC", help=f"To: {SPEC_HELP}.")],
    schema: Annotated[
        str, typer.Option("--schema", help="PostgreSQL schema of the store, on either side.")
    ] = "lightmem",
    as_json: JsonOpt = False,
) -> None:
    """Move a store to another backend, losslessly (into an empty store; checked after)."""
    src_spec, dst_spec = parse_spec(source, schema), parse_spec(target, schema)
    if src_spec == dst_spec:
        raise InputError("--from and --to name the same store")
    dim = src_spec.stored_dim()
    if dim is None:
        raise InputError(f"there is no store at {src_spec.shown}")
    src, dst = src_spec.store(), dst_spec.store()
    src.open(dim)
    try:
        dst.open(dim)
        try:
            counts = migrate_store(src, dst)
        finally:
            dst.close()
    finally:
        src.close()
    if as_json:
        emit_json({"from": src_spec.shown, "to": dst_spec.shown, "records": counts})
        return
    total = sum(n for kind, n in counts.items() if kind != "meta")
    detail = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    out().print(f"migrated {total} records ({detail})", markup=False, highlight=False)
    note(
        f"from {src_spec.shown} to {dst_spec.shown}; point the store's config at the new "
        "backend (store.provider and its options) to use it"
    )
