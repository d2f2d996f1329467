"""API keys: shown once when created, kept only as SHA-256 hashes in ``keys.json`` (mode 0600)
in the store directory, each bound to the scopes it may touch.

A key is 32 random bytes (``secrets``), so a plain SHA-256 is enough to store it: there is
nothing to brute-force. Verification compares digests with :func:`hmac.compare_digest`. The
file is re-read when it changes, so ``lightmem keys revoke`` takes effect on a running server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lightmem.errors import ConfigError, InputError, NotFoundError
from lightmem.types import Scope

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
    """The keys of one store directory, in ``<store>/keys.json``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._keys: list[ApiKey] = []

    @classmethod
    def for_store(cls, store_dir: Path) -> KeyStore:
        return cls(Path(store_dir) / KEYS_FILE)

    # -- reading ------------------------------------------------------------------------------
    def list_keys(self) -> list[ApiKey]:
        """The current keys, re-read if the file changed since the last call."""
        with self._lock:
            try:
                st = self.path.stat()
            except FileNotFoundError:
                self._stamp, self._keys = None, []
                return []
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if stamp != self._stamp:
                if os.name == "posix" and st.st_mode & 0o077:
                    raise ConfigError(
                        f"{str(self.path)!r} is accessible by other users; run: "
                        f"chmod 600 {self.path}"
                    )
                self._keys = _parse(self.path)
                self._stamp = stamp
            return list(self._keys)

    def configured(self) -> bool:
        return bool(self.list_keys())

    def verify(self, presented: str) -> ApiKey | None:
        """The key whose hash matches ``presented``, or None."""
        if not presented.startswith(KEY_PREFIX) or len(presented) > _MAX_KEY_CHARS:
            return None
        digest = hash_key(presented)
        found = None
        for key in self.list_keys():
            if hmac.compare_digest(digest, key.sha256):
                found = key
        return found

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
        existing = self.list_keys()
        names = {k.name for k in existing}
        if name is None:
            name = _fresh_name(names)
        if not _NAME.match(name):
            raise InputError(f"key name {name!r}: use 1-64 letters, digits, '.', '_' or '-'")
        if name in names:
            raise InputError(f"a key named {name!r} already exists; revoke it or pick another")
        secret = KEY_PREFIX + secrets.token_urlsafe(32)
        created = datetime.now(UTC).replace(microsecond=0).isoformat()
        key = ApiKey(name, hash_key(secret), admin, grants, created)
        self._write([*existing, key])
        return secret, key

    def revoke(self, name: str) -> ApiKey:
        existing = self.list_keys()
        gone = [k for k in existing if k.name == name]
        if not gone:
            raise NotFoundError(f"no API key named {name!r} in {str(self.path)!r}")
        self._write([k for k in existing if k.name != name])
        return gone[0]

    def _write(self, keys: list[ApiKey]) -> None:
        data = {
            "version": 1,
            "keys": [
                {
                    "name": k.name,
                    "sha256": k.sha256,
                    "admin": k.admin,
                    "grants": [{"user_id": g.user_id, "agent_id": g.agent_id} for g in k.grants],
                    "created_at": k.created_at,
                }
                for k in keys
            ],
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # mkstemp creates the file with mode 0600; the rename makes the change atomic.
        fd, tmp = tempfile.mkstemp(prefix=".keys-", suffix=".json", dir=self.path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
                fh.write("\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


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
