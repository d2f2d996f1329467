"""API keys: shown once when created, kept only as SHA-256 hashes in the store's database
(SQLite or PostgreSQL, in transactions), each bound to the scopes it may touch.

A key is 32 random bytes (``secrets``), so a plain SHA-256 is enough to store it: there is
nothing to brute-force. It is looked up by its hash on every request, so ``lightmem keys
revoke`` takes effect on every running server at once. A ``keys.json`` written by an older
LightMem is imported into the database the first time the store is opened for its keys.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lightmem.errors import ConfigError, ConflictError, InputError, NotFoundError
from lightmem.stores.base import Store
from lightmem.types import Scope, StoredKey

if TYPE_CHECKING:
    from lightmem.memory import Memory

KEYS_FILE = "keys.json"
KEY_PREFIX = "lm_"
_NAME = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_MAX_KEY_CHARS = 256


@dataclass(frozen=True, slots=True)
class Grant:
    """One partition a key may touch. ``user_id`` is the tenant boundary; ``agent_id``
    narrows it when given. A grant without a user covers that agent's own memories only."""

    user_id: str | None
    agent_id: str | None

    def allows(self, owner: Scope) -> bool:
        if owner.user_id != self.user_id:
            return False
        return self.agent_id is None or owner.agent_id == self.agent_id


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored key: its name, the hash of the secret, and what it may touch."""

    name: str
    sha256: str
    admin: bool
    grants: tuple[Grant, ...]
    created_at: str


class _GrantRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    user_id: str | None = Field(None, min_length=1)
    agent_id: str | None = Field(None, min_length=1)


class _KeyRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=_NAME.pattern)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    admin: bool = False
    grants: list[_GrantRecord] = Field(default_factory=list)
    created_at: str


class _KeyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int = 1
    keys: list[_KeyRecord] = Field(default_factory=list)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def grants_for(users: Sequence[str], agents: Sequence[str]) -> tuple[Grant, ...]:
    """Every (user, agent) pair of the given ids; an empty side means "any" (users) or
    "none" (agents without users)."""
    for what, ids in (("user", users), ("agent", agents)):
        for value in ids:
            if not value.strip():
                raise InputError(f"a key's {what} id must be a non-empty string")
    if not users and not agents:
        raise InputError("a key needs at least one --user or --agent (or --admin)")
    user_ids: list[str | None] = list(dict.fromkeys(users)) or [None]
    agent_ids: list[str | None] = list(dict.fromkeys(agents)) or [None]
    return tuple(Grant(u, a) for u in user_ids for a in agent_ids)


class KeyStore:
    """The API keys of one store, kept (hashed) in the store's own database: each create and
    revoke is one transaction, and every request reads the current keys, so a revoked key is
    refused from the next request on, by every server process on that store."""

    def __init__(self, store: Store, legacy_dir: Path | None = None) -> None:
        self.store = store
        if legacy_dir is not None:
            self._import_legacy(Path(legacy_dir) / KEYS_FILE)

    @classmethod
    def for_memory(cls, memory: Memory) -> KeyStore:
        """The keys of ``memory``'s store (a ``keys.json`` of an older LightMem beside it is
        imported once)."""
        return cls(memory.store, legacy_dir=memory.path)

    @property
    def where(self) -> str:
        return f"the store's database ({type(self.store).__name__})"

    # -- reading ------------------------------------------------------------------------------
    def list_keys(self) -> list[ApiKey]:
        return [_from_stored(k) for k in self.store.list_api_keys()]

    def configured(self) -> bool:
        return bool(self.store.list_api_keys())

    def verify(self, presented: str) -> ApiKey | None:
        """The key whose hash matches ``presented``, or None."""
        if not presented.startswith(KEY_PREFIX) or len(presented) > _MAX_KEY_CHARS:
            return None
        digest = hash_key(presented)
        found = self.store.find_api_key(digest)
        if found is None or not hmac.compare_digest(digest, found.sha256):
            return None
        return _from_stored(found)

    # -- changing -----------------------------------------------------------------------------
    def create(
        self,
        *,
        users: Sequence[str] = (),
        agents: Sequence[str] = (),
        name: str | None = None,
        admin: bool = False,
    ) -> tuple[str, ApiKey]:
        """Create a key; returns the secret (shown once, never stored) and the stored record."""
        grants = () if admin and not users and not agents else grants_for(users, agents)
        if name is not None and not _NAME.match(name):
            raise InputError(f"key name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        created = datetime.now(UTC).replace(microsecond=0).isoformat()
        for _ in range(20):
            key = ApiKey(name or _fresh_name(set()), hash_key(secret), admin, grants, created)
            try:
                self.store.add_api_key(_to_stored(key))
            except ConflictError:
                if name is not None:
                    raise InputError(
                        f"a key named {name!r} already exists; revoke it or pick another"
                    ) from None
                continue  # a generated name that another key took meanwhile
            return secret, key
        raise InputError("could not find a free key name; give one with --name")

    def revoke(self, name: str) -> ApiKey:
        gone = [k for k in self.list_keys() if k.name == name]
        if not self.store.delete_api_key(name) or not gone:
            raise NotFoundError(f"no API key named {name!r} in {self.where}")
        return gone[0]

    def _import_legacy(self, path: Path) -> None:
        """Keys of a ``keys.json`` (LightMem before the keys moved into the store) go into
        the database once; the file is then renamed, so it is never read again."""
        if not path.is_file():
            return
        known = {k.name for k in self.store.list_api_keys()}
        for key in _parse(path):
            if key.name not in known:
                try:
                    self.store.add_api_key(_to_stored(key))
                except ConflictError:
                    continue
        os.replace(path, path.with_name(path.name + ".imported"))


def _to_stored(key: ApiKey) -> StoredKey:
    grants = tuple((g.user_id, g.agent_id) for g in key.grants)
    return StoredKey(key.name, key.sha256, key.admin, grants, key.created_at)


def _from_stored(key: StoredKey) -> ApiKey:
    grants = tuple(Grant(u, a) for u, a in key.grants)
    return ApiKey(key.name, key.sha256, key.admin, grants, key.created_at)


def _fresh_name(taken: set[str]) -> str:
    while True:
        name = f"key-{secrets.token_hex(3)}"
        if name not in taken:
            return name


def _parse(path: Path) -> list[ApiKey]:
    try:
        parsed = _KeyFile.model_validate_json(path.read_bytes())
    except (OSError, ValidationError) as exc:
        raise ConfigError(f"API key file {str(path)!r} cannot be read: {exc}") from None
    out = []
    for rec in parsed.keys:
        grants = tuple(Grant(g.user_id, g.agent_id) for g in rec.grants)
        if not rec.admin and (not grants or any(g == Grant(None, None) for g in grants)):
            raise ConfigError(f"API key file {str(path)!r}: key {rec.name!r} has no scope")
        out.append(ApiKey(rec.name, rec.sha256, rec.admin, grants, rec.created_at))
    return out
