"""Who may touch which memories: the one set of sharing rules, as pure functions.

A **principal** is whoever acts: a REST or MCP API key, an MCP stdio session bound to one
user, or a Python caller acting as one scope (``Memory.as_scope``). It owns some scopes
(``Principal.scopes``); an admin owns every one. A scope with a user and no agent covers
that user's agents too.

A **pool** is an owner scope; its owner grants ``read`` or ``write`` on it to another scope
(:class:`~lightmem.types.PoolGrant`). A grant reaches a principal when the principal may act
as the grantee (it owns it) or the grantee covers one of the principal's scopes (a grant to
a user reaches that user's agent keys). Outside grants, scopes stay partitions.

Writes into someone else's pool carry the principal's :attr:`Principal.author` label. Only
an owner may erase for good: a write grant tombstones, it never purges.

Everything here takes plain values (scopes, grants, records) and raises
:class:`~lightmem.errors.AccessDeniedError` or :class:`~lightmem.errors.InputError`; the
scoped view (:mod:`lightmem.scoped`) applies these rules to every operation.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from lightmem.errors import AccessDeniedError, InputError
from lightmem.messages import check_ids, make_scope
from lightmem.types import AccessLevel, PoolGrant, Scope

LEVELS: tuple[AccessLevel, ...] = ("read", "write")


def check_level(level: object) -> AccessLevel:
    if level not in LEVELS:
        raise InputError(f"a grant level is 'read' or 'write', got {level!r}")
    return level


def covers(grantee: Scope, actor: Scope) -> bool:
    """Whether ``grantee`` (a key's scope, or a grant's) covers the owner scope ``actor``:
    the same partition, or a user-wide scope over one of that user's agents."""
    if grantee.owner == actor.owner:
        return True
    return (
        grantee.agent_id is None
        and grantee.user_id is not None
        and (grantee.user_id == actor.user_id)
    )


def grant_allows(grant: PoolGrant, need: AccessLevel) -> bool:
    return grant.level == "write" or need == "read"


def author_label(scope: Scope) -> str:
    """``"user:U agent:A"``: how a scope is named in authorship and pool labels."""
    parts = [f"user:{scope.user_id}" if scope.user_id else ""]
    parts.append(f"agent:{scope.agent_id}" if scope.agent_id else "")
    return " ".join(p for p in parts if p)


@dataclass(frozen=True, slots=True)
class Principal:
    """Whoever acts. ``scopes`` are the owner scopes it owns (an admin: all of them);
    ``author`` is the label its writes into other owners' pools carry."""

    name: str
    admin: bool = False
    scopes: tuple[Scope, ...] = ()
    author: str = ""

    @classmethod
    def for_scope(
        cls,
        name: str,
        user_id: str | None = None,
        agent_id: str | None = None,
        author: str | None = None,
    ) -> Principal:
        """A principal bound to exactly one partition (``lightmem mcp --user U``); its writes
        into pools are authored ``key:<name>`` unless ``author`` says otherwise."""
        owner = make_scope(user_id, agent_id, None)
        return cls(name, False, (owner,), author or f"key:{name}")

    @classmethod
    def for_key(
        cls, name: str, admin: bool, scopes: Iterable[tuple[str | None, str | None]]
    ) -> Principal:
        """An API key's principal: its writes into pools are authored ``key:<name>``."""
        owned = tuple(Scope(u, a) for u, a in scopes)
        return cls(name, admin, owned, f"key:{name}")

    def allows(self, owner: Scope) -> bool:
        """Whether the principal owns ``owner`` (one of its scopes covers it)."""
        return self.admin or any(covers(s, owner) for s in self.scopes)

    def reached_by(self, grantee: Scope) -> bool:
        """Whether a grant to ``grantee`` reaches this principal."""
        return self.allows(grantee) or any(covers(grantee, s) for s in self.scopes)

    def scope(
        self, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> Scope:
        """The own scope a request works in: the ids it names, completed from the principal.

        One owned scope needs no ids; several need enough of them to pick one (else
        :class:`InputError`); ids outside the principal are :class:`AccessDeniedError`.
        """
        if self.admin:
            return make_scope(user_id, agent_id, run_id)
        check_ids(user_id, agent_id, run_id)
        fits: dict[Scope, None] = {}
        for s in self.scopes:
            owner = Scope(
                user_id if user_id is not None else s.user_id,
                agent_id if agent_id is not None else s.agent_id,
            )
            if covers(s, owner):
                fits[owner] = None
        if not fits:
            raise AccessDeniedError(
                "this API key (or connection) may not access that user_id/agent_id"
            )
        if len(fits) > 1:
            raise InputError("this API key covers several scopes: name the user_id (and agent_id)")
        owner = next(iter(fits))
        return Scope(owner.user_id, owner.agent_id, run_id)

    def optional_scope(self, user_id: str | None, agent_id: str | None) -> Scope | None:
        """Like :meth:`scope`, but an admin naming nobody gets ``None``: the whole store."""
        if self.admin and user_id is None and agent_id is None:
            return None
        return self.scope(user_id, agent_id)

    def writer(self, scope: Scope) -> str | None:
        """Who a write into ``scope`` is attributed to (None: the principal owns it)."""
        return None if self.allows(scope.owner) else self.author


#: What an unauthenticated server (loopback only, no keys configured) treats every caller as.
ANONYMOUS = Principal("anonymous", admin=True, author="anonymous")


def may(grants: Sequence[PoolGrant], principal: Principal, pool: Scope, need: AccessLevel) -> bool:
    """Whether ``principal`` may ``need`` the ``pool``: as its owner, or through one of
    ``grants`` (the grants on that pool) that reaches it."""
    if principal.allows(pool.owner):
        return True
    return any(
        g.pool == pool.owner and principal.reached_by(g.grantee) and grant_allows(g, need)
        for g in grants
    )


def pools_of(grants: Sequence[PoolGrant], principal: Principal) -> list[Scope]:
    """The pools granted (read or write) to ``principal``, in grant order."""
    return list(dict.fromkeys(g.pool for g in grants if principal.reached_by(g.grantee)))


def check_purge(principal: Principal, pool: Scope) -> None:
    """Only an owner erases for good: a write grant forgets (tombstones), never purges."""
    if not principal.allows(pool.owner):
        raise AccessDeniedError(
            "only the pool's owner may erase its memories for good (purge); a write grant "
            "may forget them (tombstones the owner can see in the history)"
        )


def check_import(principal: Principal, records: list[dict[str, Any]]) -> None:
    """Refuse an import that would write outside the principal's scopes or link to rows it
    does not bring along (history of, sources in, or pairs with other owners' rows)."""
    if principal.admin:
        return
    ids: dict[str, set[str]] = {"turn": set(), "entry": set(), "batch": set()}
    for n, rec in enumerate(records):
        kind = rec.get("kind")
        if kind == "llm_call":
            raise AccessDeniedError(f"record {n}: only an admin key may import LLM call records")
        if kind in ids:
            owner = Scope(_opt_str(rec, "user_id", n), _opt_str(rec, "agent_id", n))
            if not principal.allows(owner):
                raise AccessDeniedError(f"record {n}: this API key may not write that scope")
            ids[kind].add(_str(rec, "id", n))
    for n, rec in enumerate(records):
        for what, refs, known in _links(rec, n, ids):
            _within(ids[known], refs, n, what)


def _links(rec: dict[str, Any], n: int, ids: dict[str, set[str]]) -> list[tuple[str, Any, str]]:
    """(what, the ids a record names, the kind of row they must be) for each link."""
    kind = rec.get("kind")
    if kind == "turn":
        batch = rec.get("batch_id")
        return [("batch_id", [] if batch is None else [batch], "batch")]
    if kind == "entry":
        return [
            ("sources", rec.get("sources") or [], "turn"),
            ("an event's facts and links", _meta_refs(rec, n), "entry"),
            (
                "superseded_by",
                [] if rec.get("superseded_by") is None else [rec["superseded_by"]],
                "entry",
            ),
        ]
    if kind == "batch":
        return [("turn_ids", rec.get("turn_ids") or [], "turn")]
    if kind == "history":
        return [("entry_id", [rec.get("entry_id")], "entry")]
    if kind == "pair":
        return [("pair ids", [rec.get("target_id"), rec.get("source_id")], "entry")]
    if kind == "image_vector":
        return [("turn_id", [rec.get("turn_id")], "turn")]
    return []


def _meta_refs(rec: dict[str, Any], n: int) -> list[Any]:
    """The entry ids an event's ``meta`` names (its ``facts``, and its ``links``' ``to``):
    search follows them, so they must stay in the import."""
    meta = rec.get("meta")
    if meta is None:
        return []
    if not isinstance(meta, dict):
        raise InputError(f"record {n}: 'meta' must be a JSON object")
    facts = meta.get("facts")
    refs: list[Any] = [] if facts is None else facts if isinstance(facts, list) else [facts]
    links = meta.get("links")
    if links is not None:
        if not isinstance(links, list) or not all(isinstance(x, dict) for x in links):
            raise InputError(f"record {n}: meta 'links' must be a list of objects")
        refs += [x.get("to") for x in links]
    return refs


def _within(known: set[str], refs: Any, n: int, what: str) -> None:
    if not isinstance(refs, list) or any(not isinstance(r, str) or r not in known for r in refs):
        raise InputError(f"record {n}: {what} must name rows of the same import")


def _str(rec: dict[str, Any], key: str, n: int) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not value:
        raise InputError(f"record {n}: {key!r} must be a non-empty string")
    return value


def _opt_str(rec: dict[str, Any], key: str, n: int) -> str | None:
    return None if rec.get(key) is None else _str(rec, key, n)
