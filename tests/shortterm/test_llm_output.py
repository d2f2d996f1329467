"""Bad LLM output, generated: truncated, prose-wrapped and mistyped JSON, huge and empty
replies, source numbers that name no turn, unicode and nested junk, fed to the one
structured-output path, to extraction through a real Memory, and to the consolidation
decision parser.

The properties: nothing but a LightMem error ever escapes; nothing is dropped silently (a
turn ends extracted and linked to entries, or its batch is failed with the raw reply kept);
every call and every failure shows in the store's usage. Sizes grow under LIGHTMEM_SOAK=1.
"""

from __future__ import annotations

import json
import uuid
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from lightmem import Memory
from lightmem.errors import ExtractionError, ProviderError
from lightmem.llm.base import ChatMessage, Completion
from lightmem.llm.scripted import ScriptedLLM
from lightmem.llm.structured import ask_structured, salvage_json
from lightmem.longterm.consolidation import UpdateDecision
from lightmem.shortterm.extraction import ExtractionOutput, max_memories, output_model
from lightmem.types import EntryStatus, TurnStage
from tests.support.soak import scaled

EXAMPLES = scaled(60, 1000)
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # nothing written into the checkout
    derandomize=True,  # the same examples every run: a failure reproduces, a pass is not luck
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- the junk ----------------------------------------------------------------------------------
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)
)
#: Nested junk of bounded depth (deep nesting has its own test below).
nested = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
unicode_text = st.text(
    st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs", "Cf"]), max_size=60
)
memory_text = st.one_of(
    st.text(min_size=1, max_size=80).filter(str.strip),
    unicode_text.filter(str.strip),
    st.sampled_from(["x" * 601, "émoji 🐈 and 中文 and עברית", "<think>not a tag</think>"]),
    scalars,
    nested,
)
#: Sources as a model might write them: good numbers, 0, negatives, far past the batch,
#: numeric and other strings, floats, null, lists.
source = st.one_of(
    st.integers(1, 6),
    st.integers(-5, 0),
    st.integers(7, 10**12),
    st.sampled_from(["1", "2", "abc", "", "1.0", "-1"]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.none(),
    st.lists(st.integers(0, 3), max_size=2),
)
memory_item = st.fixed_dictionaries(
    {"text": memory_text},
    optional={
        "sources": st.lists(source, max_size=5) | scalars,
        "keywords": st.lists(unicode_text, max_size=3) | scalars,
        "extra": nested,
    },
)
#: Memories that validate, with sources that may still name no turn of the batch.
good_memory = st.fixed_dictionaries(
    {
        "text": st.text(min_size=1, max_size=80).filter(str.strip) | unicode_text.filter(str.strip),
        "sources": st.lists(st.integers(-3, 9), max_size=4),
    },
    optional={"keywords": st.lists(unicode_text, max_size=3)},
)
extraction_json = st.one_of(
    st.fixed_dictionaries({"memories": st.lists(good_memory, max_size=6)}),
    st.fixed_dictionaries({"memories": st.lists(good_memory | memory_item, max_size=6)}),
    st.fixed_dictionaries({"memories": scalars | nested}),
    st.just({"memories": [{"text": "a repeated fact"}] * 201}),  # over the 200 bound
    nested,
)
good_decision = st.fixed_dictionaries(
    {"action": st.sampled_from(["update", "delete", "ignore"])},
    optional={"text": memory_text.filter(lambda t: isinstance(t, str)), "reason": unicode_text},
)
decision_json = st.one_of(
    good_decision,
    st.fixed_dictionaries(
        {
            "action": st.sampled_from(["update", "delete", "ignore", "UPDATE", "merge", ""])
            | scalars
        },
        optional={"text": memory_text | st.just(""), "reason": unicode_text | scalars},
    ),
    nested,
)


def wrap(value: Any, how: str, cut: float, noise: str) -> str:
    """One way a model might deliver ``value``."""
    text = json.dumps(value, ensure_ascii=how != "utf8")
    if how == "truncated":
        return text[: int(len(text) * cut)]
    if how == "prose":
        return f"Sure! Here is the JSON {noise}:\n```json\n{text}\n```\nAnything else?"
    if how == "think":
        return f"<think>{noise} {{not json</think>\n{text}"
    if how == "trailing_comma" and text.endswith(("}", "]")):
        return text[:-1] + "," + text[-1]
    if how == "huge":
        return text + " " * 200_000 + noise * 50
    if how == "two_objects":
        return f"{text} and also {text}"
    return text


def replies(payload: st.SearchStrategy[Any]) -> st.SearchStrategy[str]:
    formatted = st.builds(
        wrap,
        payload,
        st.sampled_from(
            [
                "plain",
                "utf8",
                "truncated",
                "prose",
                "think",
                "trailing_comma",
                "huge",
                "two_objects",
            ]
        ),
        st.floats(0, 1),
        unicode_text,
    )
    return st.one_of(
        formatted,
        st.sampled_from(["", "   ", "\n", "null", "[]", "{}", "```json\n```", "<think>"]),
        st.sampled_from(
            [
                # half of a surrogate pair, as a model cut off mid-emoji may write it (the
                # same in a decision's text has its own test below)
                '{"memories": [{"text": "half \\ud83d of a cat", "sources": [1]}]}',
                "x" * 300_000,
            ]
        ),
        unicode_text,
    )


def feed(llm: ScriptedLLM, attempts: list[str]) -> deque[str]:
    """Make ``attempts`` the next replies of ``llm`` (and only those: an example that failed
    half-way leaves nothing behind for the next one). Returns what is left of them."""
    left = deque(attempts)

    def respond(messages: list[ChatMessage], schema: Any) -> str:
        if not left:
            raise ProviderError("the example's replies are used up")
        return left.popleft()

    llm.respond_with(respond)
    return left


def parse(reply: str, model: type[BaseModel]) -> BaseModel | None:
    """What the reply means: the validated model, or None. The schema is the oracle."""
    try:
        return model.model_validate(salvage_json(reply, expect="object"))
    except (ValueError, ValidationError):
        return None


# -- salvage and ask_structured ----------------------------------------------------------------
@SETTINGS
@given(reply=replies(extraction_json) | replies(decision_json) | st.text())
def test_salvage_json_returns_or_raises_value_error(reply: str) -> None:
    try:
        salvage_json(reply)
        salvage_json(reply, expect="object")
    except ValueError:
        pass


@SETTINGS
@given(
    model=st.sampled_from([ExtractionOutput, UpdateDecision]),
    data=st.data(),
)
def test_ask_structured_validates_or_raises_extraction_error(
    model: type[BaseModel], data: st.DataObject
) -> None:
    payload = extraction_json if model is ExtractionOutput else decision_json
    given_replies = data.draw(st.lists(replies(payload), min_size=1, max_size=3))
    llm = ScriptedLLM().enqueue(*given_replies)
    seen: list[tuple[Completion, bool]] = []
    messages = [ChatMessage(role="user", content="extract")]
    try:
        result = ask_structured(
            llm,
            messages,
            model,
            max_retries=len(given_replies) - 1,
            on_call=lambda c, ok: seen.append((c, ok)),
        )
    except ExtractionError as exc:
        assert all(parse(r, model) is None for r in given_replies)
        assert exc.raw == given_replies[-1] and exc.attempts == len(given_replies)
        assert [ok for _, ok in seen] == [False] * len(given_replies)
        assert exc.tokens_out == sum(c.tokens_out for c, _ in seen)
    else:
        first = next(i for i, r in enumerate(given_replies) if parse(r, model) is not None)
        assert result.attempts == first + 1 and result.raw == given_replies[first]
        assert result.value == parse(given_replies[first], model)
        assert [ok for _, ok in seen] == [False] * first + [True]


@pytest.mark.parametrize(
    "reply", ["[" * 100_000, '{"memories": ' * 50_000, "[" * 3000 + "]" * 3000]
)
def test_deeply_nested_reply_is_an_extraction_error(reply: str) -> None:
    llm = ScriptedLLM().enqueue(reply)
    with pytest.raises(ExtractionError):
        ask_structured(
            llm, [ChatMessage(role="user", content="x")], ExtractionOutput, max_retries=0
        )


# -- extraction through a Memory ---------------------------------------------------------------
def scripted_memory(path: Path, **overrides: Any) -> Memory:
    config: dict[str, Any] = {
        "embedder": {"provider": "hash", "options": {"dim": 64}},
        "llm": "scripted",
        # nothing happens on add; flush extracts each user's turns in one batch
        "buffer": {"sensory_tokens": 100_000, "shortterm_tokens": 100_000},
        "extraction": {"max_retries": 1, "max_attempts_per_batch": 5},
        **overrides,
    }
    return Memory(path, config=config)


def test_extraction_of_generated_replies_drops_nothing(tmp_path: Path) -> None:
    mem = scripted_memory(tmp_path / "store")
    llm = mem.llm
    assert isinstance(llm, ScriptedLLM)
    seen = {"examples": 0, "extracted": 0, "failed": 0, "entries": 0, "repaired_sources": 0}

    @SETTINGS
    @given(
        n_turns=st.integers(1, 6),
        attempts=st.lists(replies(extraction_json), min_size=2, max_size=2),
    )
    def one(n_turns: int, attempts: list[str]) -> None:
        user = uuid.uuid4().hex
        llm.respond_with(None)
        mem.add(
            [{"role": "user", "content": f"turn {i} of {user}"} for i in range(n_turns)],
            user_id=user,
            session_id="s",
            timestamp="2024-05-01T10:00:00",
        )
        before = mem.usage()
        left = feed(llm, attempts)
        result = mem.flush(user_id=user)  # only LightMem errors may escape; none should here
        turns = mem.turns(user_id=user)
        model = output_model(max_memories(turns))  # the schema the batch was asked for
        assert not left or parse(attempts[0], model) is not None
        after = mem.usage()
        parsed = [parse(r, model) for r in attempts]
        used = next((p for p in parsed if p is not None), None)
        calls = 2 if parsed[0] is None else 1
        stage = after.stages["extraction"]
        old = before.stages.get("extraction")
        assert stage.calls - (old.calls if old else 0) == calls
        assert stage.failed_calls - (old.failed_calls if old else 0) == calls - (used is not None)
        seen["examples"] += 1
        if used is None:
            # failed: the batch keeps the last raw reply; the failure shows in usage
            assert len(result.failed_batches) == 1 and result.entries_created == 0
            assert after.failed_batches == before.failed_batches + 1
            (batch,) = [b for b in mem.store.list_batches() if b.scope.user_id == user]
            assert batch.status == "failed" and batch.raw_reply == attempts[-1]
            assert batch.last_error
            assert all(t.stage == TurnStage.BATCHED for t in turns)
            seen["failed"] += 1
            return
        assert isinstance(used, ExtractionOutput)
        # A fact repeated in one reply (same words, any case or spacing) is one memory.
        facts = list(
            {" ".join(m.text.lower().split()): m for m in reversed(used.memories)}.values()
        )
        facts.reverse()
        assert not result.failed_batches and result.entries_created == len(facts)
        assert all(t.stage == TurnStage.EXTRACTED for t in turns)
        entries = mem.get_all(user_id=user)
        assert sorted(e.text for e in entries) == sorted(m.text.strip() for m in facts)
        ids = [t.id for t in turns]
        invalid = cited = 0
        repaired = after.repaired_sources - before.repaired_sources
        for m in facts:
            valid = [ids[i - 1] for i in dict.fromkeys(m.sources) if 1 <= i <= len(ids)]
            invalid += len(set(m.sources)) - len(valid)
            cited += len(valid)
            (e,) = [e for e in entries if e.text == m.text.strip()]
            # never unlinked; a cited turn is kept unless it does not support the fact, then
            # the fact points at the best-supported turns (at most two, never the batch)
            assert e.sources and set(e.sources) <= set(ids), (m, e)
            if valid:
                assert set(e.sources) <= set(valid) or repaired > 0, (m, e)
            else:
                assert len(e.sources) <= 2, (m, e)
        assert after.invalid_sources - before.invalid_sources == invalid
        assert 0 <= repaired <= cited
        vectors = mem.store.entry_vectors([e.id for e in entries])
        for e in entries:
            assert np.allclose(vectors[e.id], mem.embedder.embed([e.text])[0], atol=1e-5)
        seen["extracted"] += 1
        seen["entries"] += len(entries)
        seen["repaired_sources"] += invalid

    try:
        one()
    finally:
        mem.close()
    print(f"\nextraction examples: {seen}")
    assert seen["extracted"] and seen["failed"]


def test_whitespace_only_memory_is_not_stored_empty(tmp_path: Path) -> None:
    with scripted_memory(tmp_path / "store") as mem:
        mem.add("I adopted a cat called Pixel", user_id="u")
        assert isinstance(mem.llm, ScriptedLLM)
        mem.llm.enqueue({"memories": [{"text": "   ", "sources": [1]}]}, {"memories": []})
        mem.flush()
        assert all(e.text.strip() for e in mem.get_all(user_id="u"))


def test_raw_reply_survives_a_later_provider_failure(tmp_path: Path) -> None:
    with scripted_memory(tmp_path / "store", extraction={"max_retries": 0}) as mem:
        mem.add("I adopted a cat called Pixel", user_id="u")
        assert isinstance(mem.llm, ScriptedLLM)
        mem.llm.enqueue('{"memories": [{"text": ')  # cut off: the batch fails, reply kept
        mem.flush()
        (batch,) = mem.store.list_batches()
        assert batch.raw_reply == '{"memories": [{"text": '
        mem.flush()  # the queue is empty: the scripted backend raises a ProviderError
        (batch,) = mem.store.list_batches()
        assert batch.status == "failed" and batch.attempts == 2
        assert batch.raw_reply == '{"memories": [{"text": '


# -- consolidation decisions -------------------------------------------------------------------
def test_consolidation_of_generated_decisions_changes_only_what_validates(tmp_path: Path) -> None:
    mem = scripted_memory(
        tmp_path / "store",
        consolidation={"threshold": -1.0, "top_k": 5, "workers": 1},
    )
    llm = mem.llm
    assert isinstance(llm, ScriptedLLM)
    seen = {"examples": 0, "applied": 0, "failed": 0}

    def seed(user: str) -> tuple[str, str]:
        llm.respond_with(None)
        for day, text in ((1, "Maya's cat Pixel eats salmon"), (2, "Pixel now eats chicken")):
            mem.add(text, user_id=user, timestamp=f"2024-05-0{day}T10:00:00")
            llm.enqueue({"memories": [{"text": text, "sources": [1]}]})
            mem.flush(user_id=user)
        old, new = mem.get_all(user_id=user)
        return old.id, new.id

    @SETTINGS
    @given(attempts=st.lists(replies(decision_json), min_size=2, max_size=2))
    def one(attempts: list[str]) -> None:
        user = uuid.uuid4().hex
        old_id, new_id = seed(user)
        old = mem.get(old_id)
        vector = mem.store.entry_vectors([old_id])[old_id]
        before = mem.usage().stages.get("consolidation")
        left = feed(llm, attempts)
        result = mem.consolidate(user_id=user)
        assert not left or parse(attempts[0], UpdateDecision) is not None
        parsed = [parse(r, UpdateDecision) for r in attempts]
        decision = next((p for p in parsed if p is not None), None)
        calls = 2 if parsed[0] is None else 1
        after = mem.usage().stages["consolidation"]
        assert after.calls - (before.calls if before else 0) == calls
        seen["examples"] += 1
        now = mem.get(old_id)
        queued = new_id in mem.store.consolidation_queue()
        assert isinstance(decision, UpdateDecision | None)
        text = (decision.text or "").strip() if decision is not None else ""
        if decision is None or (decision.action == "update" and not text):
            # failed: the old entry is untouched and the new one stays queued for a re-run
            assert result.failed == [old_id], result
            assert (now.text, now.version, now.status) == (old.text, old.version, old.status)
            assert np.array_equal(mem.store.entry_vectors([old_id])[old_id], vector)
            assert queued
            seen["failed"] += 1
            return
        assert not result.failed and not queued
        seen["applied"] += 1
        if decision.action == "update":
            assert now.text == text and now.version == 2
            assert np.allclose(
                mem.store.entry_vectors([old_id])[old_id], mem.embedder.embed([text])[0], atol=1e-5
            )
            assert mem.history(old_id)[-1].new_text == text
        elif decision.action == "delete":
            assert now.status == EntryStatus.DELETED
        else:
            assert (now.text, now.version) == (old.text, old.version)

    try:
        one()
    finally:
        mem.close()
    print(f"\nconsolidation examples: {seen}")
    assert seen["applied"] and seen["failed"]


def test_update_without_text_shows_in_usage(tmp_path: Path) -> None:
    with scripted_memory(tmp_path / "store", consolidation={"threshold": -1.0}) as mem:
        llm = mem.llm
        assert isinstance(llm, ScriptedLLM)
        for day in (1, 2):
            mem.add(f"fact number {day}", user_id="u", timestamp=f"2024-05-0{day}T10:00:00")
            llm.enqueue({"memories": [{"text": f"fact number {day}", "sources": [1]}]})
            mem.flush()
        llm.enqueue({"action": "update", "text": "  "}, {"action": "update", "text": ""})
        result = mem.consolidate()
        assert result.failed
        assert mem.usage().stages["consolidation"].failed_calls >= 1


def test_lone_surrogate_in_keywords_is_no_crash(tmp_path: Path) -> None:
    with scripted_memory(tmp_path / "store") as mem:
        mem.add("I adopted a cat called Pixel", user_id="u")
        assert isinstance(mem.llm, ScriptedLLM)
        reply = json.dumps({"memories": [{"text": "Pixel", "keywords": ["#"], "sources": [1]}]})
        reply = reply.replace("#", "\\udfff")  # a lone surrogate, escaped as JSON allows
        mem.llm.enqueue(reply, reply, reply)
        result = mem.flush()  # failed (reply kept) or extracted; an escaping crash is not fine
        assert result.failed_batches or result.entries_created


def test_lone_surrogate_in_a_decision_is_no_crash(tmp_path: Path) -> None:
    with scripted_memory(tmp_path / "store", consolidation={"threshold": -1.0}) as mem:
        llm = mem.llm
        assert isinstance(llm, ScriptedLLM)
        for day in (1, 2):
            mem.add(f"fact number {day}", user_id="u", timestamp=f"2024-05-0{day}T10:00:00")
            llm.enqueue({"memories": [{"text": f"fact number {day}", "sources": [1]}]})
            mem.flush()
        llm.enqueue('{"action": "update", "text": "fact \\udfff number 2"}')
        llm.enqueue('{"action": "update", "text": "fact \\udfff number 2"}')
        llm.enqueue('{"action": "update", "text": "fact \\udfff number 2"}')
        result = mem.consolidate()  # a failed decision is fine; an escaping crash is not
        assert result.failed or result.updated
