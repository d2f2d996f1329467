"""What a forget request may name, narrowed in the database: the rows it could match, never
fewer, so that the caller's exact match reads a few rows instead of the owner's whole
history (and the database, not the interpreter, does the scanning).

A word matches as a whole word of the case-folded text (see
:mod:`lightmem.longterm.forgetting`). In the database that is approximated from above: a
text without a character outside ASCII holds a word only if it holds it as a substring
with ASCII letters in either case (``LIKE``; case folding of ASCII is lower-casing); a text
with any other character (where folding may change length, as "ß" to "ss") is always a
candidate, and a word outside ASCII can only be in such a text.
"""

from __future__ import annotations

from typing import Any

from lightmem import giveway
from lightmem.stores.sql.codec import (
    ENTRY_FIELDS,
    TURN_FIELDS,
    row_to_entry,
    row_to_turn,
    scope_where,
)
from lightmem.stores.sql.dialect import Conn, Dialect
from lightmem.types import Entry, Scope, Turn

ESCAPE = "\\"
#: words a condition narrows by, at most (the longest: every word must be there, so a few
#: narrow as well as all of them, and a thousand overran SQLite's expression depth)
MAX_WORDS = 16
#: a longer word narrows nothing (SQLite refuses LIKE patterns over 50,000 bytes)
MAX_WORD_CHARS = 1000
#: turn ids a condition names, at most; beyond, every entry is a candidate (SQLite binds at
#: most 32,766 values to one statement)
MAX_CITES = 20_000


def like_pattern(text: str) -> str:
    """``text`` as a literal inside a LIKE pattern (``ESCAPE '\\'``)."""
    return text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")


def contains(d: Dialect, column: str, word: str) -> tuple[str, str]:
    """The condition that ``column`` holds ``word`` as a substring (ASCII in any case), and
    its parameter."""
    return f"{column} {d.like_any_case} ? ESCAPE '{ESCAPE}'", f"%{like_pattern(word)}%"


def may_hold(d: Dialect, column: str, words: list[str]) -> tuple[str, list[Any]]:
    """The condition that ``column`` may hold every one of ``words`` (case-folded) as a
    word: true for every text that does, and for few others."""
    other, params = d.non_ascii(column)
    if not words or not all(w.isascii() for w in words):
        return other, params
    narrowing = sorted({w for w in words if len(w) <= MAX_WORD_CHARS}, key=lambda w: (-len(w), w))
    narrowing = narrowing[:MAX_WORDS]
    if not narrowing:
        return "1 = 1", []
    likes = [contains(d, column, w) for w in narrowing]
    held = " AND ".join(cond for cond, _ in likes)
    return f"({other} OR ({held}))", [*params, *(param for _, param in likes)]


def turns(c: Conn, d: Dialect, owner: Scope, words: list[str]) -> list[Turn]:
    """The owner's turns whose content may hold every word, by ``seq``."""
    where, params = scope_where(owner)
    cond, more = may_hold(d, "content", words)
    sql = f"SELECT {TURN_FIELDS} FROM turns WHERE {where} AND {cond} ORDER BY seq"
    return giveway.each(c.execute(sql, [*params, *more]).fetchall(), row_to_turn)


def entries(
    c: Conn,
    d: Dialect,
    owner: Scope,
    words: list[str] | None,
    cites: list[str],
    include_deleted: bool,
) -> list[Entry]:
    """The owner's entries a forget request may reach, in creation order: every one that is
    not a fact (summaries and events follow what goes) or was edited (its history may hold
    the words), the facts whose text may hold every one of ``words``, and those that cite
    one of the turns ``cites``."""
    where, params = scope_where(owner)
    if not include_deleted:
        where += " AND status = 'active'"
    alternatives = ["kind <> 'fact'", "version > 1"]
    if words:
        cond, more = may_hold(d, "text", words)
        alternatives.append(cond)
        params += more
    if len(cites) > MAX_CITES:
        alternatives.append("1 = 1")
    elif cites:
        cond, more = d.cites_any("sources", cites)
        alternatives.append(cond)
        params += more
    sql = (
        f"SELECT {ENTRY_FIELDS} FROM entries WHERE {where} AND ({' OR '.join(alternatives)}) "
        "ORDER BY pk"
    )
    return giveway.each(c.execute(sql, params).fetchall(), row_to_entry)
