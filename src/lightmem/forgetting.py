"""The forgetting half of the :class:`~lightmem.Memory` facade: see, forget and expire.

``forget`` previews, tombstones or purges what a query (or ids) names with its source turns;
``pin`` keeps a memory from consolidation and expiry; TTLs expire memories (per memory, or an
owner's default counted from creation), and expired ones are purged at sleep time.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from lightmem.longterm.forgetting import as_ttl, is_expired
from lightmem.messages import check_flag, check_forget, check_id_list, check_memory_id, make_scope
from lightmem.types import Entry, ForgetResult

if TYPE_CHECKING:
    from lightmem.engine.background import BackgroundWorker
    from lightmem.engine.pipeline import Pipeline
    from lightmem.stores.base import Store


class Forgetting:
    """Mixed into :class:`~lightmem.Memory`, whose engine, store and worker it uses."""

    engine: Pipeline
    store: Store
    _worker: BackgroundWorker | None

    def _entry(self, memory_id: str, user_id: str | None, agent_id: str | None) -> Entry:
        """The entry (within the scope, when one is named), or NotFoundError."""
        check_memory_id(memory_id)
        scope = make_scope(user_id, agent_id, None) if user_id or agent_id else None
        return self.store.get_entry(memory_id, scope)

    # -- forgetting -----------------------------------------------------------------------------
    def forget(
        self,
        query: str | None = None,
        *,
        ids: list[str] | None = None,
        turn_ids: list[str] | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        purge: bool = False,
        dry_run: bool = False,
        reason: str | None = None,
        actor: str = "user",
    ) -> ForgetResult:
        """Forget the memories a query names (every word of it in their text, or in a turn
        they were drawn from) and/or the memories ``ids`` and turns ``turn_ids`` (with the
        memories drawn from them), with their source turns. Ids name exactly what a preview
        showed: what was added since is left alone.

        ``dry_run`` only previews. Otherwise the memories are tombstoned (history FORGET;
        their turns leave search), or with ``purge`` erased for good with their history and
        source turns, and the store's files scrubbed (``ForgetResult.compacted``).
        """
        owner = make_scope(user_id, agent_id, None)
        check_forget(ids, purge, dry_run, reason, actor)
        check_id_list(turn_ids, "turn_ids", "turn ids")
        if self._worker is not None:
            self._worker.wait_idle()  # a batch in flight could cite a turn being erased
        return self.engine.forget(
            owner,
            query,
            ids,
            purge=purge,
            dry_run=dry_run,
            actor=actor,
            reason=reason,
            turn_ids=turn_ids,
        )

    def pin(
        self,
        memory_id: str,
        pinned: bool = True,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
    ) -> Entry:
        """Pin (or with ``pinned=False`` unpin) a memory: consolidation never merges, changes
        or expires a pinned memory."""
        check_flag(pinned, "pinned")
        self._entry(memory_id, user_id, agent_id)
        return self.store.set_entry_flags(memory_id, pinned=pinned, actor="user")

    def set_ttl(
        self,
        memory_id: str,
        ttl: timedelta | float | None,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
    ) -> Entry:
        """Expire a memory ``ttl`` (seconds or a timedelta) from now; ``None`` clears it (the
        owner's default TTL applies again)."""
        self._entry(memory_id, user_id, agent_id)
        delta = as_ttl(ttl)
        at = None if delta is None else _now() + delta
        return self.store.set_entry_flags(memory_id, expires_at=at, actor="user")

    def set_default_ttl(
        self,
        ttl: timedelta | float | None,
        *,
        user_id: str | None = None,
        agent_id: str | None = None,
    ) -> None:
        """The TTL of the owner's memories that have none of their own, counted from their
        creation (``None``: they never expire)."""
        self.engine.forgetter.set_default_ttl(make_scope(user_id, agent_id, None), as_ttl(ttl))

    def default_ttl(
        self, *, user_id: str | None = None, agent_id: str | None = None
    ) -> timedelta | None:
        return self.engine.forgetter.default_ttl(make_scope(user_id, agent_id, None))

    def is_expired(self, entry: Entry) -> bool:
        return is_expired(entry, _now(), self.engine.forgetter.default_ttl(entry.scope.owner))

    def erasures(
        self, *, user_id: str | None = None, agent_id: str | None = None
    ) -> list[dict[str, Any]]:
        """The owner's erasure log (counts, no text): forget purges and expiry."""
        return self.store.erasures(make_scope(user_id, agent_id, None))


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)
