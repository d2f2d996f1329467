"""The grants of the :class:`~lightmem.Memory` facade: who may read or write an owner's
pool (the scoped views that apply them are :class:`~lightmem.scoped.ScopedMemory`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from lightmem import access
from lightmem.errors import InputError
from lightmem.messages import scope_arg
from lightmem.types import AccessLevel, PoolGrant, Scope

if TYPE_CHECKING:
    from lightmem.stores.base import Store


class Pools:
    """Mixed into :class:`~lightmem.Memory`, whose store it uses."""

    store: Store

    def grant(
        self,
        level: AccessLevel | None,
        *,
        pool: Scope | dict[str, str],
        to: Scope | dict[str, str],
    ) -> PoolGrant | None:
        """Let the scope ``to`` read (``"read"``) or read and write (``"write"``) the
        memories of the owner scope ``pool``; ``None`` revokes, effective at once. A grant to
        a user alone covers that user's agents. Returns the grant (None when revoked)."""
        p, g = scope_arg(pool, "pool"), scope_arg(to, "to")
        if p == g:
            raise InputError("a pool cannot be granted to its own owner")
        level = None if level is None else access.check_level(level)
        self.store.set_grant(p, g, level)
        found = [x for x in self.store.list_grants(pool=p) if x.grantee == g]
        return found[0] if found else None

    def revoke(self, *, pool: Scope | dict[str, str], to: Scope | dict[str, str]) -> bool:
        """Remove a grant; the next call of that scope is refused. Whether it existed."""
        return self.store.set_grant(scope_arg(pool, "pool"), scope_arg(to, "to"), None)

    def grants(
        self,
        *,
        pool: Scope | dict[str, str] | None = None,
        to: Scope | dict[str, str] | None = None,
    ) -> list[PoolGrant]:
        return self.store.list_grants(
            pool=None if pool is None else scope_arg(pool, "pool"),
            grantee=None if to is None else scope_arg(to, "to"),
        )
