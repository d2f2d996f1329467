"""Numbered schema migrations, registered with ``@migration(n)``.

Each migration runs in its own write transaction together with the bump of
``PRAGMA user_version``, so a crash leaves the schema at the previous version and the next
open resumes. An old store opens with a newer LightMem; a store written by a newer LightMem
(a version this code does not know) is refused rather than misread.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable

from lightmem.errors import StorageError
from lightmem.stores.sql import keys
from lightmem.stores.sql.migrations import PINNED_INDEX, execute_all, registrar
from lightmem.stores.sqlite.db import Database

Migration = Callable[[sqlite3.Connection], None]

#: version -> migration; filled once at import by ``@migration(n)``, never changed after.
MIGRATIONS: dict[int, Migration] = {}
migration = registrar(MIGRATIONS)


def latest_version() -> int:
    return max(MIGRATIONS)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(db: Database) -> int:
    """Bring the schema up to :func:`latest_version`; returns the version reached.

    The version numbers need not be contiguous: a number this code does not define, passed
    over on the way up, is kept as skipped in ``meta`` and applied when a later LightMem
    defines it (so two changes numbered apart can land in either order)."""
    current, skipped = db.read("read the schema version", _state)
    latest = latest_version()
    if current > latest:
        raise StorageError(
            f"SQLite store {db.path!r} has schema version {current}, but this LightMem knows "
            f"versions up to {latest}; upgrade LightMem to open it"
        )
    for version in sorted(v for v in MIGRATIONS if v > current or v in skipped):
        db.write(f"schema migration {version}", _step(version))
    return max(current, latest)


_SKIPPED = "skipped_migrations"


def _state(conn: sqlite3.Connection) -> tuple[int, set[int]]:
    """The schema version and the versions passed over below it (not yet applied)."""
    version = schema_version(conn)
    if version == 0:
        return 0, set()
    row = conn.execute("SELECT value FROM meta WHERE key = ?", (_SKIPPED,)).fetchone()
    return version, set(json.loads(row[0])) if row is not None else set()


def _step(version: int) -> Callable[[sqlite3.Connection], None]:
    def run(conn: sqlite3.Connection) -> None:
        current, skipped = _state(conn)
        if version <= current and version not in skipped:
            return  # another process applied it while we waited for the write lock
        MIGRATIONS[version](conn)
        passed = {n for n in range(current + 1, version) if n not in MIGRATIONS}
        left = sorted((skipped | passed) - {version})
        conn.execute(
            "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (_SKIPPED, json.dumps(left))
        )
        conn.execute(f"PRAGMA user_version = {int(max(current, version))}")

    return run


@migration(1)
def initial_schema(conn: sqlite3.Connection) -> None:
    execute_all(
        conn,
        [
            "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
            "INSERT INTO meta (key, value) VALUES ('generation', '0')",
            # seq is the rowid: increasing across the whole store, never reused.
            """CREATE TABLE turns (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                user_id TEXT, agent_id TEXT, run_id TEXT, session_id TEXT,
                role TEXT NOT NULL, speaker TEXT, content TEXT NOT NULL, compressed TEXT,
                tokens INTEGER NOT NULL DEFAULT 0,
                timestamp TEXT, ref TEXT,
                stage TEXT NOT NULL
                    CHECK (stage IN ('sensory', 'short_term', 'batched', 'extracted')),
                segment_id TEXT, batch_id TEXT,
                created_at TEXT NOT NULL,
                vector BLOB)""",
            "CREATE INDEX turns_owner ON turns (user_id, agent_id, seq)",
            "CREATE INDEX turns_stage ON turns (stage, user_id, agent_id)",
            """CREATE TABLE batches (
                pk INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                user_id TEXT, agent_id TEXT, run_id TEXT,
                turn_ids TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('pending', 'failed', 'done')),
                attempts INTEGER NOT NULL DEFAULT 0,
                last_error TEXT, raw_reply TEXT,
                created_at TEXT NOT NULL)""",
            "CREATE INDEX batches_owner ON batches (user_id, agent_id, status)",
            "CREATE INDEX batches_status ON batches (status)",
            # pk is an explicit rowid (VACUUM keeps it): creation order and the FTS rowid.
            """CREATE TABLE entries (
                pk INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                user_id TEXT, agent_id TEXT, run_id TEXT,
                text TEXT NOT NULL,
                timestamp TEXT,
                speakers TEXT NOT NULL DEFAULT '[]',
                topic_id TEXT,
                keywords TEXT NOT NULL DEFAULT '[]',
                sources TEXT NOT NULL DEFAULT '[]',
                origin TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('active', 'deleted')),
                version INTEGER NOT NULL DEFAULT 1,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                consolidated INTEGER NOT NULL DEFAULT 0,
                vector BLOB)""",
            "CREATE INDEX entries_owner ON entries (user_id, agent_id, status, run_id)",
            """CREATE INDEX entries_queue ON entries (pk)
                WHERE consolidated = 0 AND status = 'active'""",
            # Full-text index of the active entries (rowid = entries.pk), kept by triggers.
            """CREATE VIRTUAL TABLE entries_fts USING fts5 (
                text, keywords, tokenize = 'unicode61 remove_diacritics 2')""",
            """CREATE TRIGGER entries_fts_insert AFTER INSERT ON entries
                WHEN new.status = 'active' BEGIN
                INSERT INTO entries_fts (rowid, text, keywords)
                    VALUES (new.pk, new.text, new.keywords);
            END""",
            """CREATE TRIGGER entries_fts_update AFTER UPDATE OF text, keywords, status
                ON entries BEGIN
                DELETE FROM entries_fts WHERE rowid = old.pk;
                INSERT INTO entries_fts (rowid, text, keywords)
                    SELECT new.pk, new.text, new.keywords WHERE new.status = 'active';
            END""",
            """CREATE TRIGGER entries_fts_delete AFTER DELETE ON entries BEGIN
                DELETE FROM entries_fts WHERE rowid = old.pk;
            END""",
            # Every write that can change a search result bumps the generation, which
            # invalidates the dense-search caches of every connection, in any process.
            """CREATE TRIGGER entries_gen_insert AFTER INSERT ON entries BEGIN
                UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation';
            END""",
            """CREATE TRIGGER entries_gen_update
                AFTER UPDATE OF user_id, agent_id, run_id, timestamp, status, vector
                ON entries BEGIN
                UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation';
            END""",
            """CREATE TRIGGER entries_gen_delete AFTER DELETE ON entries BEGIN
                UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation';
            END""",
            """CREATE TABLE history (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                entry_id TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
                event TEXT NOT NULL CHECK (event IN ('ADD', 'UPDATE', 'DELETE', 'MERGE')),
                old_text TEXT, new_text TEXT, reason TEXT,
                actor TEXT NOT NULL,
                created_at TEXT NOT NULL)""",
            "CREATE INDEX history_entry ON history (entry_id, id)",
            """CREATE TABLE consolidation_pairs (
                target_id TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
                source_id TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
                PRIMARY KEY (target_id, source_id)) WITHOUT ROWID""",
            "CREATE INDEX consolidation_pairs_source ON consolidation_pairs (source_id)",
            """CREATE TABLE llm_calls (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                stage TEXT NOT NULL,
                tokens_in INTEGER NOT NULL, tokens_out INTEGER NOT NULL,
                seconds REAL NOT NULL, ok INTEGER NOT NULL,
                created_at TEXT NOT NULL)""",
        ],
    )


#: The owner key the triggers write; ``search.owner_key`` computes the same in Python.
_OWNER = "quote({row}.user_id) || ' ' || quote({row}.agent_id)"
_GENERATION = "(SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'generation')"
_BUMP = "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation';"


@migration(2)
def per_owner_search_index(conn: sqlite3.Connection) -> None:
    """Replace FTS5 by stored term hashes and per-owner revisions.

    ``search_index`` holds, per entry ``pk`` ever written, its owner, the store revision of
    its last search-relevant change (a purged entry keeps a row without terms: the change
    feed of the ANN sidecars) and the hashed terms of its text and keywords
    (``lightmem_terms``, registered on every connection by ``db.py``). ``owner_revs`` holds
    each owner's latest revision, which the search caches compare against. The store-wide
    ``generation`` still moves on every such write; the revisions are its values.
    """
    new_owner, old_owner = _OWNER.format(row="new"), _OWNER.format(row="old")
    execute_all(
        conn,
        [
            "DROP TRIGGER entries_fts_insert",
            "DROP TRIGGER entries_fts_update",
            "DROP TRIGGER entries_fts_delete",
            "DROP TRIGGER entries_gen_insert",
            "DROP TRIGGER entries_gen_update",
            "DROP TRIGGER entries_gen_delete",
            "DROP TABLE entries_fts",
            """CREATE TABLE search_index (
                pk INTEGER PRIMARY KEY,
                owner TEXT NOT NULL,
                rev INTEGER NOT NULL,
                terms BLOB)""",
            "CREATE INDEX search_index_feed ON search_index (owner, rev)",
            "CREATE TABLE owner_revs (owner TEXT PRIMARY KEY, rev INTEGER NOT NULL)",
            f"""INSERT INTO search_index (pk, owner, rev, terms)
                SELECT pk, {_OWNER.format(row="entries")}, {_GENERATION},
                       lightmem_terms(text, keywords)
                FROM entries ORDER BY pk""",
            """INSERT INTO owner_revs (owner, rev)
                SELECT owner, MAX(rev) FROM search_index GROUP BY owner""",
            f"""CREATE TRIGGER entries_search_insert AFTER INSERT ON entries BEGIN
                {_BUMP}
                INSERT OR REPLACE INTO search_index (pk, owner, rev, terms) VALUES (
                    new.pk, {new_owner}, {_GENERATION}, lightmem_terms(new.text, new.keywords));
                INSERT OR REPLACE INTO owner_revs (owner, rev) VALUES ({new_owner}, {_GENERATION});
            END""",
            f"""CREATE TRIGGER entries_search_update
                AFTER UPDATE OF user_id, agent_id, run_id, text, keywords, timestamp, status, vector
                ON entries BEGIN
                {_BUMP}
                UPDATE search_index SET owner = {new_owner}, rev = {_GENERATION}
                    WHERE pk = new.pk;
                UPDATE search_index SET terms = lightmem_terms(new.text, new.keywords)
                    WHERE pk = new.pk
                      AND (new.text IS NOT old.text OR new.keywords IS NOT old.keywords);
                INSERT OR REPLACE INTO owner_revs (owner, rev) VALUES ({old_owner}, {_GENERATION});
                INSERT OR REPLACE INTO owner_revs (owner, rev) VALUES ({new_owner}, {_GENERATION});
            END""",
            f"""CREATE TRIGGER entries_search_delete AFTER DELETE ON entries BEGIN
                {_BUMP}
                UPDATE search_index SET rev = {_GENERATION}, terms = NULL WHERE pk = old.pk;
                INSERT OR REPLACE INTO owner_revs (owner, rev) VALUES ({old_owner}, {_GENERATION});
            END""",
        ],
    )


@migration(3)
def api_and_idempotency_keys(conn: sqlite3.Connection) -> None:
    """API keys (hashed) and idempotency keys move into the store's database."""
    execute_all(conn, keys.SCHEMA)


_EVENTS = "'ADD', 'UPDATE', 'DELETE', 'MERGE', 'FORGET', 'PIN', 'UNPIN', 'EXPIRY'"


@migration(4)
def forgetting(conn: sqlite3.Connection) -> None:
    """Pins and expiry times on entries, the history events of forgetting, the ``erasures``
    log (one row per purge: counts only, no text), shared pools (``grants``, the author of
    a turn) and the images of a turn."""
    execute_all(
        conn,
        [
            "ALTER TABLE entries ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE entries ADD COLUMN expires_at TEXT",
            "CREATE INDEX entries_expiry ON entries (expires_at) WHERE expires_at IS NOT NULL",
            # SQLite cannot alter a CHECK constraint: the history table is rebuilt.
            f"""CREATE TABLE history_v4 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                entry_id TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
                event TEXT NOT NULL CHECK (event IN ({_EVENTS})),
                old_text TEXT, new_text TEXT, reason TEXT,
                actor TEXT NOT NULL,
                created_at TEXT NOT NULL)""",
            "INSERT INTO history_v4 SELECT * FROM history ORDER BY id",
            "DROP TABLE history",
            "ALTER TABLE history_v4 RENAME TO history",
            "CREATE INDEX history_entry ON history (entry_id, id)",
            """CREATE TABLE erasures (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id TEXT, agent_id TEXT,
                cause TEXT NOT NULL,
                entries INTEGER NOT NULL, turns INTEGER NOT NULL,
                actor TEXT NOT NULL,
                created_at TEXT NOT NULL)""",
            # Shared pools: the owner scope ``pool`` grants read or write to ``grantee``
            # (keys: JSON [user_id, agent_id]); a revoked grant is deleted.
            """CREATE TABLE grants (
                pool_key TEXT NOT NULL, grantee_key TEXT NOT NULL,
                pool_user TEXT, pool_agent TEXT, grantee_user TEXT, grantee_agent TEXT,
                level TEXT NOT NULL CHECK (level IN ('read', 'write')),
                created_at TEXT NOT NULL,
                PRIMARY KEY (pool_key, grantee_key))""",
            "CREATE INDEX grants_grantee ON grants (grantee_user, grantee_agent)",
            # who wrote a turn into a pool (NULL: its owner)
            "ALTER TABLE turns ADD COLUMN author TEXT",
            # images shared in a turn: [{"url", "caption"}]
            "ALTER TABLE turns ADD COLUMN images TEXT NOT NULL DEFAULT '[]'",
        ],
    )


@migration(5)
def structure(conn: sqlite3.Connection) -> None:
    """What an entry is (``kind``: an extracted fact, a session summary or an event) and its
    structure (``meta``: an event's facts, fields and links; a summary's session)."""
    execute_all(
        conn,
        [
            "ALTER TABLE entries ADD COLUMN kind TEXT NOT NULL DEFAULT 'fact' "
            "CHECK (kind IN ('fact', 'summary', 'event'))",
            "ALTER TABLE entries ADD COLUMN meta TEXT NOT NULL DEFAULT '{}'",
            "CREATE INDEX entries_kind ON entries (user_id, agent_id, kind) WHERE kind != 'fact'",
        ],
    )
    _update_triggers(conn)  # a store past 8 that takes this late logs edits of kind and meta


@migration(6)
def images_and_forgotten_turns(conn: sqlite3.Connection) -> None:
    """Images on entries (carried from their source turns; their captions join the entry's
    BM25 terms), the vectors of images (``image_vectors``, any dimension: the image
    embedder's), turns forgotten before extraction (``forgotten``: out of search and of
    the pipeline), and what each consolidation decision was (``decision``, ``reason``,
    ``decided_at`` of a decided pair; NULL for pairs decided before)."""
    new_owner, old_owner = _OWNER.format(row="new"), _OWNER.format(row="old")
    terms = "lightmem_terms(new.text, new.keywords, new.images)"
    execute_all(
        conn,
        [
            "ALTER TABLE turns ADD COLUMN forgotten INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE entries ADD COLUMN images TEXT NOT NULL DEFAULT '[]'",
            "ALTER TABLE consolidation_pairs ADD COLUMN decision TEXT",
            "ALTER TABLE consolidation_pairs ADD COLUMN reason TEXT",
            "ALTER TABLE consolidation_pairs ADD COLUMN decided_at TEXT",
            """CREATE TABLE image_vectors (
                turn_id TEXT NOT NULL REFERENCES turns (id) ON DELETE CASCADE,
                n INTEGER NOT NULL,
                user_id TEXT, agent_id TEXT,
                url TEXT NOT NULL,
                model TEXT NOT NULL,
                vector BLOB NOT NULL,
                PRIMARY KEY (turn_id, n))""",
            "CREATE INDEX image_vectors_owner ON image_vectors (user_id, agent_id, model)",
            # The entries' terms now include their images' captions. No entry has images
            # yet, so the stored terms stay valid: only the triggers change.
            "DROP TRIGGER entries_search_insert",
            "DROP TRIGGER entries_search_update",
            f"""CREATE TRIGGER entries_search_insert AFTER INSERT ON entries BEGIN
                {_BUMP}
                INSERT OR REPLACE INTO search_index (pk, owner, rev, terms) VALUES (
                    new.pk, {new_owner}, {_GENERATION}, {terms});
                INSERT OR REPLACE INTO owner_revs (owner, rev) VALUES ({new_owner}, {_GENERATION});
            END""",
            f"""CREATE TRIGGER entries_search_update
                AFTER UPDATE OF user_id, agent_id, run_id, text, keywords, images, timestamp,
                    status, vector
                ON entries BEGIN
                {_BUMP}
                UPDATE search_index SET owner = {new_owner}, rev = {_GENERATION}
                    WHERE pk = new.pk;
                UPDATE search_index SET terms = {terms}
                    WHERE pk = new.pk
                      AND (new.text IS NOT old.text OR new.keywords IS NOT old.keywords
                           OR new.images IS NOT old.images);
                INSERT OR REPLACE INTO owner_revs (owner, rev) VALUES ({old_owner}, {_GENERATION});
                INSERT OR REPLACE INTO owner_revs (owner, rev) VALUES ({new_owner}, {_GENERATION});
            END""",
        ],
    )


#: The columns whose change can change what the retrieval layer's per-owner indexes hold.
#: (not ``vector``: PostgreSQL fixes its type after the migrations, and a column a trigger
#: names cannot change type; ``tokens`` is set in the same statement as a turn's vector)
_TURN_SEARCHED = "content, tokens, forgotten, images, session_id, run_id, speaker, role, timestamp"
_ENTRY_SEARCHED = (
    "text, status, version, sources, kind, meta, images, keywords, timestamp, run_id, "
    "origin, expires_at, superseded_by, valid_until"
)


def _change_trigger(table: str, event: str, row: str, kind: str, key: str, cols: str = "") -> str:
    of = f" OF {cols}" if cols else ""
    return f"""CREATE TRIGGER {table}_changes_{event.lower()} AFTER {event}{of} ON {table} BEGIN
        INSERT INTO changes (user_id, agent_id, kind, row_id)
            VALUES ({row}.user_id, {row}.agent_id, '{kind}', {row}.{key});
    END"""


@migration(7)
def batch_claims(conn: sqlite3.Connection) -> None:
    """PostgreSQL's claims on extraction batches (workers on many machines): a SQLite store
    has one writer at a time, which takes a batch under its lock. Nothing to change here;
    the number is taken so that both stores count their versions alike."""


#: The tables whose writes the change log follows: (table, kind, key column).
_LOGGED = (("turns", "t", "id"), ("entries", "e", "id"), ("image_vectors", "i", "turn_id"))


def _update_triggers(conn: sqlite3.Connection) -> None:
    """(Re)create the change log's UPDATE triggers over the searched columns this store has:
    a migration that runs late (its number passed over before) adds its columns to them."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'changes'").fetchone():
        return
    for table, kind, key, wanted in (
        ("turns", "t", "id", _TURN_SEARCHED),
        ("entries", "e", "id", _ENTRY_SEARCHED),
    ):
        present = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        cols = ", ".join(c for c in wanted.split(", ") if c in present)
        conn.execute(f"DROP TRIGGER IF EXISTS {table}_changes_update")
        conn.execute(_change_trigger(table, "UPDATE", "new", kind, key, cols))


@migration(8)
def validity_and_changes(conn: sqlite3.Connection) -> None:
    """Validity in time (``valid_until``, ``superseded_by``: the memory that replaced this
    one), and the change log (``changes``): every write that can change an owner's search
    indexes appends the row's id, from any process, so those indexes follow by delta."""
    triggers = []
    for table, kind, key in _LOGGED:
        triggers.append(_change_trigger(table, "INSERT", "new", kind, key))
        triggers.append(_change_trigger(table, "DELETE", "old", kind, key))
    events = _EVENTS + ", 'SUPERSEDE'"
    execute_all(
        conn,
        [
            # SQLite cannot alter a CHECK constraint: the history table is rebuilt.
            f"""CREATE TABLE history_v8 (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                entry_id TEXT NOT NULL REFERENCES entries (id) ON DELETE CASCADE,
                event TEXT NOT NULL CHECK (event IN ({events})),
                old_text TEXT, new_text TEXT, reason TEXT,
                actor TEXT NOT NULL,
                created_at TEXT NOT NULL)""",
            "INSERT INTO history_v8 SELECT * FROM history ORDER BY id",
            "DROP TABLE history",
            "ALTER TABLE history_v8 RENAME TO history",
            "CREATE INDEX history_entry ON history (entry_id, id)",
            "ALTER TABLE entries ADD COLUMN valid_until TEXT",
            "ALTER TABLE entries ADD COLUMN superseded_by TEXT",
            "CREATE INDEX entries_superseded_by ON entries (superseded_by) "
            "WHERE superseded_by IS NOT NULL",
            """CREATE TABLE changes (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                user_id TEXT, agent_id TEXT,
                kind TEXT NOT NULL, row_id TEXT NOT NULL)""",
            "CREATE INDEX changes_owner ON changes (user_id, agent_id, id)",
            *triggers,
        ],
    )
    _update_triggers(conn)


@migration(9)
def pinned_index(conn: sqlite3.Connection) -> None:
    """The pinned memories of an owner by an index of them alone: the proxy's stable part
    reads them with every request, which scanned all of a heavy user's memories."""
    execute_all(conn, [PINNED_INDEX])
