"""Who is calling: the principal an API key stands for, shared by the REST API and the MCP
server. What a principal may touch is :mod:`lightmem.access`; every operation goes through
the scoped view (``memory.as_actor(principal)``, :mod:`lightmem.scoped`).

The scope of every operation comes from the caller's key: a request may narrow it (name one
of the key's users, an agent under a user-wide key) but never widen it. Naming a user or
agent outside the key is 403; an entry id outside the key is 404, exactly like a missing id,
so the existence of other tenants' memories does not leak.
"""

from __future__ import annotations

from lightmem.access import ANONYMOUS, Principal
from lightmem.server.codes import UnauthorizedError
from lightmem.server.keys import ApiKey, KeyStore

__all__ = ["ANONYMOUS", "Principal", "authenticate", "bearer_token", "principal_of"]


def principal_of(key: ApiKey) -> Principal:
    return Principal.for_key(key.name, key.admin, ((g.user_id, g.agent_id) for g in key.grants))


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
    return principal_of(key)
