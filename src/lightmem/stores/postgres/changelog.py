"""The change log's triggers on PostgreSQL (migration 8): every write that can change an
owner's search indexes appends the row's id to ``changes``, from any process."""

from __future__ import annotations

from typing import Any

Cursor = Any  # psycopg.Cursor[Any]; the driver is imported lazily

#: The columns whose change can change what the retrieval layer's per-owner indexes hold.
#: (not ``vector``: PostgreSQL fixes its type after the migrations, and a column a trigger
#: names cannot change type; ``tokens`` is set in the same statement as a turn's vector)
TURN_SEARCHED = "content, tokens, forgotten, images, session_id, run_id, speaker, role, timestamp"
ENTRY_SEARCHED = (
    "text, status, version, sources, kind, meta, images, keywords, timestamp, run_id, "
    "origin, expires_at, superseded_by, valid_until"
)


def change_function(kind: str, key: str) -> str:
    # the store's schema, fixed at creation: the log lands beside the table, whatever the
    # search_path of the writer
    return f"""CREATE FUNCTION lightmem_change_{kind}() RETURNS trigger LANGUAGE plpgsql
        SET search_path FROM CURRENT AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                INSERT INTO changes (user_id, agent_id, kind, row_id)
                    VALUES (OLD.user_id, OLD.agent_id, '{kind}', OLD.{key});
                RETURN OLD;
            END IF;
            INSERT INTO changes (user_id, agent_id, kind, row_id)
                VALUES (NEW.user_id, NEW.agent_id, '{kind}', NEW.{key});
            RETURN NEW;
        END $$"""


def update_triggers(cur: Cursor) -> None:
    """(Re)create the change log's UPDATE triggers over the searched columns this schema has:
    a migration that runs late (its number passed over before) adds its columns to them."""
    if cur.execute("SELECT to_regclass('changes')").fetchone()[0] is None:
        return
    for table, kind, wanted in (("turns", "t", TURN_SEARCHED), ("entries", "e", ENTRY_SEARCHED)):
        present = {
            r[0]
            for r in cur.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_name = %s AND table_schema = current_schema()",
                (table,),
            ).fetchall()
        }
        cols = ", ".join(c for c in wanted.split(", ") if c in present)
        cur.execute(f"DROP TRIGGER IF EXISTS {table}_changes_update ON {table}")
        cur.execute(
            f"CREATE TRIGGER {table}_changes_update AFTER UPDATE OF {cols} ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION lightmem_change_{kind}()"
        )
