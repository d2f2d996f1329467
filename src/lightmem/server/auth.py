"""Who is calling, and which scopes they may touch. Shared by the REST API and the MCP server.

The scope of every operation comes from the caller's key: a request may narrow it (name one
of the key's users, an agent under a user-wide key) but never widen it. Naming a user or
agent outside the key is 403; an entry id outside the key is 404, exactly like a missing id,
so the existence of other tenants' memories does not leak.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from lightmem import sharing
from lightmem.errors import InputError, NotFoundError
from lightmem.memory import Memory
from lightmem.messages import check_ids, make_scope
from lightmem.server.errors import ForbiddenError, UnauthorizedError
from lightmem.server.keys import ApiKey, Grant, KeyStore
from lightmem.types import AccessLevel, Entry, Scope


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: an admin touches every scope; anyone else only their grants."""

    name: str
    admin: bool = False
    grants: tuple[Grant, ...] = ()

    @classmethod
    def from_key(cls, key: ApiKey) -> Principal:
        return cls(key.name, key.admin, key.grants)

    @classmethod
    def for_scope(cls, name: str, user_id: str | None, agent_id: str | None) -> Principal:
        """A principal bound to exactly one partition (``lightmem mcp --user U``)."""
        owner = make_scope(user_id, agent_id, None)
        return cls(name, False, (Grant(owner.user_id, owner.agent_id),))

    def allows(self, owner: Scope) -> bool:
        return self.admin or any(g.allows(owner) for g in self.grants)

    def scope(
        self, user_id: str | None = None, agent_id: str | None = None, run_id: str | None = None
    ) -> Scope:
        """The scope a request works in: the ids it names, completed from the key.

        A key with one grant needs no ids at all; a key with several needs enough of them to
        pick one (else :class:`InputError`); ids outside the key are :class:`ForbiddenError`.
        """
        if self.admin:
            return make_scope(user_id, agent_id, run_id)
        check_ids(user_id, agent_id, run_id)
        fits: dict[Scope, None] = {}
        for g in self.grants:
            owner = Scope(
                user_id if user_id is not None else g.user_id,
                agent_id if agent_id is not None else g.agent_id,
            )
            if g.allows(owner):
                fits[owner] = None
        if not fits:
            raise ForbiddenError(
                "this API key (or connection) may not access that user_id/agent_id"
            )
        if len(fits) > 1:
            raise InputError("this API key covers several scopes: name the user_id (and agent_id)")
        owner = next(iter(fits))
        return Scope(owner.user_id, owner.agent_id, run_id)

    def optional_scope(self, user_id: str | None, agent_id: str | None) -> Scope | None:
        """Like :meth:`scope`, but an admin naming nothing gets ``None``: the whole store."""
        if self.admin and user_id is None and agent_id is None:
            return None
        return self.scope(user_id, agent_id)


#: What an unauthenticated server (loopback only, no keys configured) treats every caller as.
ANONYMOUS = Principal("anonymous", admin=True)


def bearer_token(authorization: str | None) -> str | None:
    """The key in an ``Authorization: Bearer <key>`` header value, or None."""
    scheme, _, token = (authorization or "").partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def authenticate(
    keys: KeyStore | None, token: str | None, *, anonymous_until_keys: bool = False
) -> Principal:
    """The principal a presented key stands for. ``keys=None`` is the keyless loopback mode:
    everyone is :data:`ANONYMOUS`; with ``anonymous_until_keys`` only while no key exists."""
    if keys is None or (anonymous_until_keys and not token and not keys.configured()):
        return ANONYMOUS
    if not token:
        raise UnauthorizedError("an API key is required: send 'Authorization: Bearer <key>'")
    key = keys.verify(token)
    if key is None:
        raise UnauthorizedError("the API key is not valid (unknown or revoked)")
    return Principal.from_key(key)


def owned_entry(
    memory: Memory, principal: Principal, entry_id: str, need: AccessLevel = "read"
) -> Entry:
    """The entry, if it exists and the principal may ``need`` it (its own scopes, or a pool
    granted to one of them); else the same NotFoundError."""
    missing = NotFoundError(f"no memory with id {entry_id!r}")
    try:
        entry = memory.get(entry_id)
    except NotFoundError:
        raise missing from None
    owner = entry.scope.owner
    if not principal.allows(owner) and (
        principal.admin or not sharing.allowed(memory.store, owner, need, principal.allows)
    ):
        raise missing
    return entry


def pool_scope(
    memory: Memory,
    principal: Principal,
    user_id: str | None,
    agent_id: str | None,
    run_id: str | None = None,
    *,
    need: AccessLevel,
) -> Scope:
    """The scope a request works in: one of the key's own (:meth:`Principal.scope`), or a
    pool that the store grants (``need``: read or write) to a scope the key covers."""
    try:
        return principal.scope(user_id, agent_id, run_id)
    except ForbiddenError:
        if user_id is None and agent_id is None:
            raise
        pool = Scope(user_id, agent_id)
        if not sharing.allowed(memory.store, pool, need, principal.allows):
            raise
        return Scope(user_id, agent_id, run_id)


def shared_pools(memory: Memory, principal: Principal, own: Scope) -> list[Scope]:
    """``own``, then every pool granted to a scope the key covers."""
    return list(dict.fromkeys([own.owner, *sharing.pools_of(memory.store, principal.allows)]))


def is_pool(principal: Principal, scope: Scope) -> bool:
    """Whether ``scope`` is someone else's pool (writes there are attributed to the key)."""
    return not principal.allows(scope.owner)


def check_import(principal: Principal, records: list[dict[str, Any]]) -> None:
    """Refuse an import that would write outside the principal's scopes or link to rows it
    does not bring along (history of, sources in, or pairs with other tenants' rows)."""
    if principal.admin:
        return
    ids: dict[str, set[str]] = {"turn": set(), "entry": set(), "batch": set()}
    for n, rec in enumerate(records):
        kind = rec.get("kind")
        if kind == "llm_call":
            raise ForbiddenError(f"record {n}: only an admin key may import LLM call records")
        if kind in ids:
            owner = Scope(_opt_str(rec, "user_id", n), _opt_str(rec, "agent_id", n))
            if not principal.allows(owner):
                raise ForbiddenError(f"record {n}: this API key may not write that scope")
            ids[kind].add(_str(rec, "id", n))
    for n, rec in enumerate(records):
        kind = rec.get("kind")
        if kind == "turn":
            _within(ids["batch"], _opt_list(rec.get("batch_id")), n, "batch_id")
        elif kind == "entry":
            _within(ids["turn"], rec.get("sources") or [], n, "sources")
            _within(ids["entry"], _meta_refs(rec, n), n, "an event's facts and links")
        elif kind == "batch":
            _within(ids["turn"], rec.get("turn_ids") or [], n, "turn_ids")
        elif kind == "history":
            _within(ids["entry"], [rec.get("entry_id")], n, "entry_id")
        elif kind == "pair":
            _within(ids["entry"], [rec.get("target_id"), rec.get("source_id")], n, "pair ids")
        elif kind == "image_vector":
            _within(ids["turn"], [rec.get("turn_id")], n, "turn_id")


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


def _within(known: set[str], refs: Iterable[Any], n: int, what: str) -> None:
    if not isinstance(refs, list) or any(not isinstance(r, str) or r not in known for r in refs):
        raise InputError(f"record {n}: {what} must name rows of the same import")


def _opt_list(value: Any) -> list[Any]:
    return [] if value is None else [value]


def _str(rec: dict[str, Any], key: str, n: int) -> str:
    value = rec.get(key)
    if not isinstance(value, str) or not value:
        raise InputError(f"record {n}: {key!r} must be a non-empty string")
    return value


def _opt_str(rec: dict[str, Any], key: str, n: int) -> str | None:
    return None if rec.get(key) is None else _str(rec, key, n)
