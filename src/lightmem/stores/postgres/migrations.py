"""Numbered schema migrations, registered with ``@migration(n)``, applied under a lock.

Opening a store:

1. makes sure pgvector is installed (``CREATE EXTENSION`` needs the privilege once per
   database) and at least 0.5 (HNSW);
2. creates the store's schema and its ``migrations`` table;
3. applies each missing migration (every registered version without its row in
   ``migrations``, in order; numbers may have gaps) in its own transaction together with
   its row, so a crash leaves the previous version and the next open resumes;
4. fixes the vector dimension when the store is new: the ``vector`` columns get their
   dimension and the HNSW index is built.

Every step that changes something holds a transaction-level advisory lock keyed on the
schema name (the extension step: on the extension) and re-reads the state under it, so two
processes opening the same store at once apply each step exactly once: the second waits,
then finds nothing to do. A store written by a newer LightMem (a version this code does not
know) is refused rather than misread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lightmem.errors import StorageError
from lightmem.stores.postgres.changelog import change_function, update_triggers
from lightmem.stores.sql import keys
from lightmem.stores.sql.migrations import PINNED_INDEX, execute_all, registrar

if TYPE_CHECKING:
    import psycopg

Cursor = Any  # psycopg.Cursor[Any]; the driver is imported lazily
Migration = Callable[[Cursor], None]

#: version -> migration; filled once at import by ``@migration(n)``, never changed after.
MIGRATIONS: dict[int, Migration] = {}
migration = registrar(MIGRATIONS)
#: pgvector's HNSW index takes ``vector`` columns of at most this many dimensions; a store of
#: a larger dimension searches exactly (correct, slower on large scopes).
HNSW_MAX_DIM = 2000
MIN_PGVECTOR = (0, 5, 0)


def latest_version() -> int:
    return max(MIGRATIONS)


@dataclass(frozen=True, slots=True)
class Prepared:
    search_path: list[str]  # the store's schema, then the schema holding pgvector
    pgvector: tuple[int, ...]
    dim: int


def prepare(
    conn: psycopg.Connection[Any], schema: str, dim: int, label: str, upto: int | None = None
) -> Prepared:
    """Bring the store in ``schema`` to the latest version (or ``upto``, for tests) and fix
    its dimension. ``conn`` is an autocommit connection; each step is one transaction."""
    ext_schema, version = _ensure_pgvector(conn, label)
    path = [schema, ext_schema] if ext_schema != schema else [schema]
    _set_path(conn, path)
    current = _read_version(conn, schema)
    latest = latest_version() if upto is None else upto
    if current is None:
        with conn.transaction():
            _lock(conn, schema)
            conn.execute(_sql("CREATE SCHEMA IF NOT EXISTS {}", schema))
            conn.execute(
                """CREATE TABLE IF NOT EXISTS migrations (
                    version integer PRIMARY KEY,
                    applied_at timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'utc'))"""
            )
        current = 0
    if current > latest_version():
        raise StorageError(
            f"{label} has schema version {current}, but this LightMem knows versions up to "
            f"{latest_version()}; upgrade LightMem to open it"
        )
    # Every registered version not recorded yet, in order: the numbers may have gaps, and a
    # lower number registered after a higher one was applied (work merged out of order)
    # is still applied.
    applied = _applied(conn, schema)
    for step in sorted(v for v in MIGRATIONS if v not in applied and v <= latest):
        with conn.transaction():
            _lock(conn, schema)
            if step in _applied(conn, schema):
                continue  # another process applied it while we waited for the lock
            cur = conn.cursor()
            MIGRATIONS[step](cur)
            cur.execute("INSERT INTO migrations (version) VALUES (%s)", (step,))
    stored = _fix_dim(conn, schema, dim)
    if stored != dim:
        raise StorageError(
            f"{label} holds vectors of dimension {stored}, but it was opened with dimension "
            f"{dim}; use the embedder it was created with, or another schema"
        )
    return Prepared(path, version, stored)


def stored_dim(conn: psycopg.Connection[Any], schema: str) -> int | None:
    """The dimension fixed in ``schema``'s store, or None (no store, or not fixed yet)."""
    exists = conn.execute(
        "SELECT to_regclass(format('%%I.meta', %s::text)) IS NOT NULL", (schema,)
    ).fetchone()
    if exists is None or not exists[0]:
        return None
    row = conn.execute(_sql("SELECT value FROM {}.meta WHERE key = 'dim'", schema)).fetchone()
    return None if row is None else int(row[0])


def _sql(template: str, *names: str) -> Any:
    from psycopg import sql

    return sql.SQL(template).format(*(sql.Identifier(n) for n in names))


def _set_path(conn: psycopg.Connection[Any], path: list[str]) -> None:
    from psycopg import sql

    conn.execute(
        sql.SQL("SET search_path TO {}").format(sql.SQL(", ").join(map(sql.Identifier, path)))
    )


def _lock(conn: psycopg.Connection[Any], key: str) -> None:
    conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"lightmem:{key}",))


def _read_version(conn: psycopg.Connection[Any], schema: str) -> int | None:
    """The schema's version: None if the store does not exist yet."""
    row = conn.execute(
        "SELECT to_regclass(format('%%I.migrations', %s::text)) IS NOT NULL", (schema,)
    ).fetchone()
    if row is None or not row[0]:
        return None
    found = conn.execute(_sql("SELECT COALESCE(max(version), 0) FROM {}.migrations", schema))
    value = found.fetchone()
    return int(value[0]) if value is not None else 0


def _applied(conn: psycopg.Connection[Any], schema: str) -> set[int]:
    rows = conn.execute(_sql("SELECT version FROM {}.migrations", schema)).fetchall()
    return {int(r[0]) for r in rows}


def _ensure_pgvector(conn: psycopg.Connection[Any], label: str) -> tuple[str, tuple[int, ...]]:
    query = """SELECT n.nspname, e.extversion FROM pg_extension e
               JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'vector'"""
    row = conn.execute(query).fetchone()
    if row is None:
        with conn.transaction():
            _lock(conn, "extension:vector")
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        row = conn.execute(query).fetchone()
    assert row is not None
    version = tuple(int(p) for p in str(row[1]).split(".") if p.isdigit())
    if version < MIN_PGVECTOR:
        raise StorageError(
            f"{label}: pgvector {row[1]} is too old; LightMem needs 0.5 or newer (HNSW), "
            f"0.8 or newer for iterative index scans: ALTER EXTENSION vector UPDATE"
        )
    return str(row[0]), version


def _fix_dim(conn: psycopg.Connection[Any], schema: str, dim: int) -> int:
    """The store's dimension: ``dim`` if this is its creation, else the one it has."""
    from psycopg import sql

    read = _sql("SELECT value FROM {}.meta WHERE key = 'dim'", schema)
    row = conn.execute(read).fetchone()
    if row is not None:
        return int(row[0])
    with conn.transaction():
        _lock(conn, schema)
        row = conn.execute(read).fetchone()
        if row is not None:
            return int(row[0])
        for table in ("turns", "entries"):
            conn.execute(
                sql.SQL("ALTER TABLE {}.{} ALTER COLUMN vector TYPE vector({})").format(
                    sql.Identifier(schema), sql.Identifier(table), sql.Literal(int(dim))
                )
            )
        if dim <= HNSW_MAX_DIM:
            # Only active entries are searched, so only they are indexed.
            conn.execute(
                _sql(
                    "CREATE INDEX entries_hnsw ON {}.entries "
                    "USING hnsw (vector vector_cosine_ops) WHERE status = 'active'",
                    schema,
                )
            )
        insert = _sql("INSERT INTO {}.meta (key, value) VALUES ('dim', %s)", schema)
        conn.execute(insert, (str(dim),))
    return dim


# The full-text vector of an entry: its text and its keywords, tokenized by the default
# parser and the 'simple' configuration (lower-cased words, no stemming, no stop words:
# like the SQLite store's unicode61 tokenizer, so a query finds the same entries).
_TSV = "to_tsvector('simple'::regconfig, text) || to_tsvector('simple'::regconfig, keywords)"


@migration(1)
def initial_schema(cur: Cursor) -> None:
    execute_all(
        cur,
        [
            "CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)",
            # seq: increasing across the whole store, never reused (an identity sequence).
            """CREATE TABLE turns (
                seq bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                id text NOT NULL UNIQUE,
                user_id text, agent_id text, run_id text, session_id text,
                role text NOT NULL, speaker text, content text NOT NULL, compressed text,
                tokens integer NOT NULL DEFAULT 0,
                timestamp timestamp, ref text,
                stage text NOT NULL
                    CHECK (stage IN ('sensory', 'short_term', 'batched', 'extracted')),
                segment_id text, batch_id text,
                created_at timestamp NOT NULL,
                vector vector)""",
            "CREATE INDEX turns_owner ON turns (user_id, agent_id, seq)",
            "CREATE INDEX turns_stage ON turns (stage, user_id, agent_id)",
            """CREATE TABLE batches (
                pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id text NOT NULL UNIQUE,
                user_id text, agent_id text, run_id text,
                turn_ids jsonb NOT NULL,
                status text NOT NULL CHECK (status IN ('pending', 'failed', 'done')),
                attempts integer NOT NULL DEFAULT 0,
                last_error text, raw_reply text,
                created_at timestamp NOT NULL)""",
            "CREATE INDEX batches_owner ON batches (user_id, agent_id, status)",
            "CREATE INDEX batches_status ON batches (status)",
            # pk: creation order. tsv/doclen: the BM25 index and document length.
            f"""CREATE TABLE entries (
                pk bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                id text NOT NULL UNIQUE,
                user_id text, agent_id text, run_id text,
                text text NOT NULL,
                timestamp timestamp,
                speakers jsonb NOT NULL DEFAULT '[]',
                topic_id text,
                keywords jsonb NOT NULL DEFAULT '[]',
                sources jsonb NOT NULL DEFAULT '[]',
                origin text NOT NULL,
                status text NOT NULL CHECK (status IN ('active', 'deleted')),
                version integer NOT NULL DEFAULT 1,
                created_at timestamp NOT NULL,
                updated_at timestamp NOT NULL,
                vector vector,
                tsv tsvector GENERATED ALWAYS AS ({_TSV}) STORED,
                doclen integer GENERATED ALWAYS AS (length({_TSV})) STORED)""",
            """CREATE INDEX entries_owner ON entries (user_id, agent_id, status, run_id)
                INCLUDE (timestamp, doclen)""",
            "CREATE INDEX entries_tsv ON entries USING gin (tsv) WHERE status = 'active'",
            # The consolidation queue is its own table: marking an entry consolidated deletes
            # a small row instead of writing a new version of the entry (and of its HNSW
            # and GIN index entries).
            """CREATE TABLE consolidation_queue (
                entry_pk bigint PRIMARY KEY REFERENCES entries (pk) ON DELETE CASCADE)""",
            """CREATE TABLE history (
                id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                entry_id text NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
                event text NOT NULL CHECK (event IN ('ADD', 'UPDATE', 'DELETE', 'MERGE')),
                old_text text, new_text text, reason text,
                actor text NOT NULL,
                created_at timestamp NOT NULL)""",
            "CREATE INDEX history_entry ON history (entry_id, id)",
            """CREATE TABLE consolidation_pairs (
                target_id text NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
                source_id text NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
                PRIMARY KEY (target_id, source_id))""",
            "CREATE INDEX consolidation_pairs_source ON consolidation_pairs (source_id)",
            """CREATE TABLE llm_calls (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                stage text NOT NULL,
                tokens_in bigint NOT NULL, tokens_out bigint NOT NULL,
                seconds double precision NOT NULL, ok boolean NOT NULL,
                created_at timestamp NOT NULL)""",
            # OR of tsqueries: the BM25 query matches entries holding any of its terms.
            "CREATE AGGREGATE tsquery_or_agg (tsquery) (SFUNC = tsquery_or, STYPE = tsquery)",
        ],
    )


@migration(2)
def consolidation_claims(cur: Cursor) -> None:
    """Claims on queued entries, so workers on many machines never consolidate the same
    entry twice; a claim expires, so a dead worker's entries come back."""
    execute_all(
        cur,
        [
            "ALTER TABLE consolidation_queue ADD COLUMN worker_id text",
            "ALTER TABLE consolidation_queue ADD COLUMN claimed_until timestamp",
            """CREATE INDEX consolidation_queue_worker ON consolidation_queue (worker_id)
                WHERE worker_id IS NOT NULL""",
        ],
    )


@migration(3)
def api_and_idempotency_keys(cur: Cursor) -> None:
    """API keys (hashed) and idempotency keys move into the store's database."""
    execute_all(cur, keys.SCHEMA)


_EVENTS = "'ADD', 'UPDATE', 'DELETE', 'MERGE', 'FORGET', 'PIN', 'UNPIN', 'EXPIRY'"


@migration(4)
def forgetting(cur: Cursor) -> None:
    """Pins and expiry times on entries, the history events of forgetting, the ``erasures``
    log (one row per purge: counts only, no text), shared pools (``grants``, the author of
    a turn) and the images of a turn."""
    execute_all(
        cur,
        [
            "ALTER TABLE entries ADD COLUMN pinned integer NOT NULL DEFAULT 0",
            "ALTER TABLE entries ADD COLUMN expires_at timestamp",
            "CREATE INDEX entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL",
            "ALTER TABLE history DROP CONSTRAINT history_event_check",
            f"ALTER TABLE history ADD CONSTRAINT history_event_check CHECK (event IN ({_EVENTS}))",
            """CREATE TABLE erasures (
                id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                user_id text, agent_id text,
                cause text NOT NULL,
                entries integer NOT NULL, turns integer NOT NULL,
                actor text NOT NULL,
                created_at timestamp NOT NULL)""",
            # Shared pools: the owner scope ``pool`` grants read or write to ``grantee``
            # (keys: JSON [user_id, agent_id]); a revoked grant is deleted.
            """CREATE TABLE grants (
                pool_key text NOT NULL, grantee_key text NOT NULL,
                pool_user text, pool_agent text, grantee_user text, grantee_agent text,
                level text NOT NULL CHECK (level IN ('read', 'write')),
                created_at timestamp NOT NULL,
                PRIMARY KEY (pool_key, grantee_key))""",
            "CREATE INDEX grants_grantee ON grants (grantee_user, grantee_agent)",
            # who wrote a turn into a pool (NULL: its owner)
            "ALTER TABLE turns ADD COLUMN author text",
            # images shared in a turn: [{"url", "caption"}]
            "ALTER TABLE turns ADD COLUMN images jsonb NOT NULL DEFAULT '[]'",
        ],
    )


@migration(5)
def structure(cur: Cursor) -> None:
    """What an entry is (``kind``: an extracted fact, a session summary or an event) and its
    structure (``meta``: an event's facts, fields and links; a summary's session)."""
    execute_all(
        cur,
        [
            "ALTER TABLE entries ADD COLUMN kind text NOT NULL DEFAULT 'fact' "
            "CHECK (kind IN ('fact', 'summary', 'event'))",
            "ALTER TABLE entries ADD COLUMN meta jsonb NOT NULL DEFAULT '{}'",
            "CREATE INDEX entries_kind ON entries (user_id, agent_id, kind) WHERE kind <> 'fact'",
        ],
    )
    update_triggers(cur)  # a store past 8 that takes this late logs edits of kind and meta


#: The full-text vector of an entry from migration 6 on: also its images' captions.
_TSV_6 = (
    f"{_TSV} || to_tsvector('simple'::regconfig, jsonb_path_query_array(images, '$[*].caption'))"
)


@migration(6)
def images_and_forgotten_turns(cur: Cursor) -> None:
    """Images on entries (carried from their source turns; their captions join the entry's
    full-text vector), the vectors of images (``image_vectors``, any dimension: the image
    embedder's), turns forgotten before extraction (``forgotten``: out of search and of
    the pipeline), and what each consolidation decision was (``decision``, ``reason``,
    ``decided_at`` of a decided pair; NULL for pairs decided before)."""
    execute_all(
        cur,
        [
            "ALTER TABLE turns ADD COLUMN forgotten integer NOT NULL DEFAULT 0",
            "ALTER TABLE entries ADD COLUMN images jsonb NOT NULL DEFAULT '[]'",
            "ALTER TABLE consolidation_pairs ADD COLUMN decision text",
            "ALTER TABLE consolidation_pairs ADD COLUMN reason text",
            "ALTER TABLE consolidation_pairs ADD COLUMN decided_at timestamp",
            """CREATE TABLE image_vectors (
                turn_id text NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
                n integer NOT NULL,
                user_id text, agent_id text,
                url text NOT NULL,
                model text NOT NULL,
                vector bytea NOT NULL,
                PRIMARY KEY (turn_id, n))""",
            "CREATE INDEX image_vectors_owner ON image_vectors (user_id, agent_id, model)",
            # A generated column's expression cannot change in place before PostgreSQL 17:
            # the full-text columns are rebuilt (their indexes go with them).
            "ALTER TABLE entries DROP COLUMN tsv, DROP COLUMN doclen",
            f"""ALTER TABLE entries
                ADD COLUMN tsv tsvector GENERATED ALWAYS AS ({_TSV_6}) STORED,
                ADD COLUMN doclen integer GENERATED ALWAYS AS (length({_TSV_6})) STORED""",
            """CREATE INDEX entries_owner ON entries (user_id, agent_id, status, run_id)
                INCLUDE (timestamp, doclen)""",
            "CREATE INDEX entries_tsv ON entries USING gin (tsv) WHERE status = 'active'",
        ],
    )


@migration(7)
def batch_claims(cur: Cursor) -> None:
    """Claims on extraction batches, like migration 2's on the consolidation queue: worker
    processes on many machines extract each batch once, and a dead worker's batches come
    back when its claims expire."""
    execute_all(
        cur,
        [
            "ALTER TABLE batches ADD COLUMN worker_id text",
            "ALTER TABLE batches ADD COLUMN claimed_until timestamp",
            """CREATE INDEX batches_open ON batches (pk)
                WHERE status IN ('pending', 'failed')""",
        ],
    )


@migration(8)
def validity_and_changes(cur: Cursor) -> None:
    """Validity in time (``valid_until``, ``superseded_by``: the memory that replaced this
    one), and the change log (``changes``): every write that can change an owner's search
    indexes appends the row's id, from any process, so those indexes follow by delta."""
    statements = [
        "ALTER TABLE history DROP CONSTRAINT history_event_check",
        "ALTER TABLE history ADD CONSTRAINT history_event_check "
        f"CHECK (event IN ({_EVENTS}, 'SUPERSEDE'))",
        "ALTER TABLE entries ADD COLUMN valid_until timestamp",
        "ALTER TABLE entries ADD COLUMN superseded_by text",
        "CREATE INDEX entries_superseded_by ON entries (superseded_by) "
        "WHERE superseded_by IS NOT NULL",
        """CREATE TABLE changes (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            user_id text, agent_id text,
            kind text NOT NULL, row_id text NOT NULL)""",
        "CREATE INDEX changes_owner ON changes (user_id, agent_id, id)",
    ]
    for table, kind, key in (
        ("turns", "t", "id"),
        ("entries", "e", "id"),
        ("image_vectors", "i", "turn_id"),
    ):
        statements.append(change_function(kind, key))
        statements.append(
            f"CREATE TRIGGER {table}_changes AFTER INSERT OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION lightmem_change_{kind}()"
        )
    execute_all(cur, statements)
    update_triggers(cur)


@migration(9)
def pinned_index(cur: Cursor) -> None:
    """The pinned memories of an owner by an index of them alone: the proxy's stable part
    reads them with every request, which scanned all of a heavy user's memories."""
    execute_all(cur, [PINNED_INDEX])
