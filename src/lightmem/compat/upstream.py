"""``LightMemory``: the upstream zjunlp/LightMem API on top of :class:`lightmem.Memory`.

Code written against the upstream README changes one import::

    from lightmem.compat import LightMemory   # was: from lightmem.memory.lightmem import ...

Upstream has one implicit user; here every call works in one scope, ``user_id``
(:data:`DEFAULT_USER_ID` unless given). Upstream swallows extraction failures; here
``add_memory`` reports them under ``failed_batches`` and the batch stays queued for a retry.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypedDict

from lightmem.compat.config_map import UpdateMode, map_config
from lightmem.config import MemoryConfig
from lightmem.errors import ConfigError, InputError, LightMemError
from lightmem.memory import Memory
from lightmem.messages import AddDefaults, make_scope, to_turns
from lightmem.types import AddResult, ConsolidationResult, Hit, Turn, TurnStage

DEFAULT_USER_ID: Final = "default"
#: Our sections that name a backend: an override replaces them whole, options included.
_BACKEND_SECTIONS: Final = frozenset({"llm", "embedder", "store", "compressor", "segmenter"})


class UpstreamCompatWarning(UserWarning):
    """An upstream config key was accepted but has no effect in LightMem."""


class AddMemoryResult(TypedDict):
    """``add_memory``'s return value: upstream's three keys, then ours."""

    add_input_prompt: list[Any]  # always empty: prompts are not kept (user data)
    add_output_prompt: list[Any]  # always empty, as above
    api_call_nums: int  # extraction LLM calls made by this call
    turn_ids: list[str]
    entries_created: int
    failed_batches: list[str]  # batch ids whose extraction failed; retried by later calls
    consolidation_failed: list[str]  # update: "online" only; entry ids retried next time


class LightMemory:
    """Upstream's ``LightMemory`` methods, delegating to a :class:`~lightmem.Memory`."""

    def __init__(
        self,
        memory: Memory,
        *,
        user_id: str = DEFAULT_USER_ID,
        update: UpdateMode = "offline",
    ) -> None:
        self.memory = memory
        make_scope(user_id, None, None)  # InputError for an empty or non-string id
        self.user_id = user_id
        self.update = update
        self._queue_top_k: int | None = None

    @classmethod
    def from_config(
        cls,
        config: Mapping[str, Any],
        *,
        path: str | Path | None = None,
        user_id: str = DEFAULT_USER_ID,
        overrides: Mapping[str, Any] | None = None,
    ) -> LightMemory:
        """Open a store from an upstream config dict.

        ``path`` (else ``embedding_retriever.configs.path`` / collection, else
        ``LIGHTMEM_HOME``) is the store directory. ``overrides`` are LightMem config sections
        applied on top of the mapped ones: a backend section (``llm``, ``embedder``,
        ``store``, ``compressor``, ``segmenter``) replaces the mapped one whole, others merge.
        """
        mapped = map_config(config)
        merged = merge_overrides(mapped.config, overrides or {})
        if mapped.no_effect:
            warnings.warn(
                "upstream config keys accepted without effect in LightMem: "
                + ", ".join(mapped.no_effect)
                + " (see docs/compat.md)",
                UpstreamCompatWarning,
                stacklevel=2,
            )
        check_model_folders(merged)
        store_path = path if path is not None else mapped.store_path
        memory = Memory(store_path, config=MemoryConfig.load(merged))
        return cls(memory, user_id=user_id, update=mapped.update)

    # -- writing ----------------------------------------------------------------------------
    def add_memory(
        self,
        messages: Any,
        METADATA_GENERATE_PROMPT: Any = None,  # upstream's parameter name
        *,
        force_segment: bool = False,
        force_extract: bool = False,
        session_id: str | None = None,
    ) -> AddMemoryResult:
        """Store messages (upstream's ``time_stamp``, ``speaker_name`` keys are understood);
        ``force_segment`` cuts the sensory buffer now, ``force_extract`` extracts what is
        segmented now (both: everything buffered)."""
        if METADATA_GENERATE_PROMPT is not None:
            raise InputError(
                "custom extraction prompts (METADATA_GENERATE_PROMPT) are not supported; "
                "LightMem uses its own extraction prompt"
            )
        calls_before = self._extraction_calls()
        fresh = self._not_stored(to_engine_messages(messages), session_id)
        added = (
            self.memory.add(fresh, user_id=self.user_id, session_id=session_id)
            if fresh
            else AddResult(turn_ids=[])
        )
        created = added.entries_created
        failed = list(added.failed_batches)
        if force_segment or force_extract:
            # Upstream's force_extract extracts everything buffered, segmenting it first.
            more_created, more_failed = self._process(
                segment=force_segment or force_extract, extract=force_extract
            )
            created += more_created
            failed += [b for b in more_failed if b not in failed]
        consolidation_failed: list[str] = []
        if self.update == "online" and created:
            consolidation_failed = self.memory.consolidate(user_id=self.user_id).failed
        return AddMemoryResult(
            add_input_prompt=[],
            add_output_prompt=[],
            api_call_nums=self._extraction_calls() - calls_before,
            turn_ids=added.turn_ids,
            entries_created=created,
            failed_batches=failed,
            consolidation_failed=consolidation_failed,
        )

    def _not_stored(self, messages: Any, session_id: str | None) -> Any:
        """The call's messages, or none when the call is a rerun: when every message has a
        time and they match, in order, a run of stored turns with the same session, time,
        role, speaker and text (rerunning a script after a failed first run does not store
        its turns twice). A call is stored whole or not at all (``add`` is atomic), so
        matching the whole call, not single messages, never drops a repeated short reply
        ("OK") of a later call."""
        scope = make_scope(self.user_id, None, session_id)
        turns = to_turns(messages, scope, AddDefaults(session_id=session_id))
        if not turns or any(t.timestamp is None for t in turns):
            return messages
        wanted = [_fingerprint(t) for t in turns]
        stored = [
            _fingerprint(t) for t in self.memory.turns(user_id=self.user_id, include_forgotten=True)
        ]
        n = len(wanted)
        for i, fp in enumerate(stored[: len(stored) - n + 1]):
            if fp == wanted[0] and stored[i : i + n] == wanted:
                return []
        return messages

    def _process(self, *, segment: bool, extract: bool) -> tuple[int, list[str]]:
        flushed = self.memory.flush(user_id=self.user_id, segment=segment, extract=extract)
        return flushed.entries_created, flushed.failed_batches

    def _extraction_calls(self) -> int:
        stage = self.memory.usage().stages.get("extraction")
        return stage.calls if stage is not None else 0

    # -- reading ----------------------------------------------------------------------------
    def retrieve(
        self, query: str, limit: int = 10, filters: Mapping[str, Any] | None = None
    ) -> str:
        """Upstream's shape: one ``"{time_stamp} {weekday} {memory}"`` line per memory.
        Nothing found while turns of the user are not memories yet (extraction failed, or
        they wait in the buffer) warns, saying how many and why: ``""`` alone would read as
        "nothing was ever said"."""
        hits = self.retrieve_hits(query, limit, filters)
        if not hits:
            self._warn_unextracted()
        return "\n".join(format_hit(h) for h in hits)

    def _warn_unextracted(self) -> None:
        waiting = [
            t
            for t in self.memory.turns(user_id=self.user_id, include_forgotten=True)
            if t.stage != TurnStage.EXTRACTED and not t.forgotten
        ]
        if not waiting:
            return
        owner = make_scope(self.user_id, None, None)
        failed = self.memory.store.list_batches(owner, statuses=("failed",))
        why = (
            f"{len(failed)} extraction batch(es) failed (the last: {failed[-1].last_error}); "
            "add_memory(..., force_extract=True) or memory.flush() retries them"
            if failed
            else "they wait in the buffer; add_memory(..., force_segment=True, "
            "force_extract=True) extracts them now"
        )
        warnings.warn(
            f"retrieve found no memory, but {len(waiting)} turn(s) of user {self.user_id!r} "
            f"are not memories yet: {why}",
            UpstreamCompatWarning,
            stacklevel=3,
        )

    def retrieve_hits(
        self,
        query: str,
        limit: int = 10,
        filters: Mapping[str, Any] | None = None,
        *,
        time_range: tuple[Any, Any] | None = None,
    ) -> list[Hit]:
        """The same search, as typed hits with scores and source turns."""
        if filters is not None:
            raise InputError(
                "retrieve(filters=...) takes Qdrant payload filters, which LightMem does not "
                "have; use retrieve_hits(query, time_range=(start, end)) to filter by time"
            )
        return self.memory.search(
            query, user_id=self.user_id, limit=limit, time_range=time_range, include_turns=False
        )

    # -- offline update -----------------------------------------------------------------------
    def construct_update_queue_all_entries(
        self, top_k: int = 20, keep_top_n: int = 10, max_workers: int = 8
    ) -> int:
        """Queues are implicit here: every new entry waits for consolidation. Returns how many
        wait; ``keep_top_n`` becomes the candidates compared per entry by the next update."""
        del top_k, max_workers  # searching and queueing happen inside the update
        if not isinstance(keep_top_n, int) or keep_top_n < 1:
            raise InputError(f"keep_top_n must be a positive integer, got {keep_top_n!r}")
        self._queue_top_k = keep_top_n
        owner = make_scope(self.user_id, None, None)
        return len(self.memory.store.consolidation_queue(owner))

    def offline_update_all_entries(
        self, score_threshold: float = 0.9, max_workers: int = 5
    ) -> ConsolidationResult:
        """Consolidate the queued entries against older ones at least ``score_threshold``
        similar (upstream's default 0.9; its README passes 0.8)."""
        return self.memory.consolidate(
            user_id=self.user_id,
            threshold=score_threshold,
            workers=max_workers,
            top_k=self._queue_top_k,
        )

    def summarize(self, *args: Any, **kwargs: Any) -> Any:
        raise LightMemError(
            "summarize() (StructMem topic summaries) is not provided by LightMem; "
            "retrieve() searches the memory entries themselves"
        )

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        self.memory.close()

    def __enter__(self) -> LightMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def merge_overrides(mapped: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Our config sections over the mapped ones (a backend section is replaced whole)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in mapped.items()}
    for key, value in overrides.items():
        current = out.get(key)
        if key in _BACKEND_SECTIONS or not (
            isinstance(value, Mapping) and isinstance(current, dict)
        ):
            out[key] = value
        else:
            out[key] = {**current, **value}
    return out


#: Upstream message keys and ours; ``session_time``/``weekday`` are upstream's derived fields.
_RENAMES: Final = {"time_stamp": "timestamp", "speaker_name": "speaker"}
_DERIVED: Final = frozenset({"session_time", "weekday"})


#: Our config keys that hold a model folder, and the upstream key that set them.
_MODEL_KEYS: Final = {
    "compressor": "pre_compressor.configs.llmlingua_config.model_name",
    "segmenter": "topic_segmenter (precomp_topic_shared: the pre_compressor's model_name)",
}


def check_model_folders(config: Mapping[str, Any]) -> None:
    """A model folder that is not there is named by the upstream key that set it (the
    LightMem backend would name its own key, which an upstream user never wrote)."""
    for section, upstream_key in _MODEL_KEYS.items():
        value = config.get(section)
        options = value.get("options") if isinstance(value, Mapping) else None
        model = options.get("model_path") if isinstance(options, Mapping) else None
        if model is not None and not Path(str(model)).is_dir():
            raise ConfigError(
                f"upstream config key {upstream_key!r}: {str(model)!r} is not a folder here; "
                "give the folder of a downloaded LLMLingua-2 model, or set pre_compress / "
                "topic_segment to false"
            )


def _fingerprint(turn: Turn) -> tuple[Any, ...]:
    return (turn.session_id, turn.timestamp, turn.role, turn.speaker, turn.content)


def to_engine_messages(messages: Any) -> Any:
    """Upstream message dicts as :meth:`Memory.add` takes them; other input passes as is."""
    if isinstance(messages, Mapping):
        return _one(messages)
    if isinstance(messages, list):
        return [_one(m) if isinstance(m, Mapping) else m for m in messages]
    return messages


def _one(message: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    came_from: dict[str, str] = {}
    for key, value in message.items():
        if key in _DERIVED:
            continue
        name = _RENAMES.get(key, key)
        if key == "speaker_id":
            if message.get("speaker_name") is not None:
                continue
            name, value = "speaker", None if value is None else str(value)
        if name in out:
            raise InputError(
                f"message has both {came_from[name]!r} and {key!r}, which mean the same; "
                f"give one of them"
            )
        out[name] = value
        came_from[name] = key
    return out


def format_hit(hit: Hit) -> str:
    ts: datetime | None = hit.timestamp
    stamp = ts.isoformat(timespec="milliseconds") if ts is not None else ""
    weekday = ts.strftime("%a") if ts is not None else ""
    return f"{stamp} {weekday} {hit.text}"
