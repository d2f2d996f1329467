"""The one structured-output path: salvage, validate, re-ask with the error, or raise."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field, RootModel

from lightmem.errors import ExtractionError, ProviderError
from lightmem.llm.base import ChatMessage, Completion
from lightmem.llm.scripted import ScriptedLLM
from lightmem.llm.structured import StructuredResult, ask_structured, salvage_json

ASK = [ChatMessage(role="user", content="Extract the facts as JSON.")]


class Fact(BaseModel):
    text: str
    importance: int = Field(ge=0, le=10)


class Facts(BaseModel):
    facts: list[Fact]


GOOD = {"facts": [{"text": "Ann lives in Oslo", "importance": 7}]}
GOOD_JSON = json.dumps(GOOD)


def ask(llm: ScriptedLLM, **kwargs: Any) -> StructuredResult[Facts]:
    return ask_structured(llm, ASK, Facts, **kwargs)


# --- ask_structured ------------------------------------------------------------------------


def test_valid_first_time() -> None:
    llm = ScriptedLLM().enqueue(GOOD)
    seen: list[tuple[Completion, bool]] = []
    result = ask(llm, max_tokens=300, on_call=lambda c, ok: seen.append((c, ok)))
    assert result.value == Facts.model_validate(GOOD)
    assert result.attempts == 1 and result.raw == GOOD_JSON
    assert result.tokens_in == result.calls[0].tokens_in > 0
    assert result.tokens_out == result.calls[0].tokens_out > 0
    assert result.seconds >= 0
    assert [ok for _, ok in seen] == [True]
    (call,) = llm.calls
    assert call.schema == Facts.model_json_schema() and call.max_tokens == 300
    assert call.messages == ASK


@pytest.mark.parametrize(
    "reply",
    [
        f"Sure! Here are the facts:\n{GOOD_JSON}\nLet me know if you need more.",
        f"<think>The user wants {{facts}}. Let me think [carefully].</think>\n{GOOD_JSON}",
        f"reasoning whose opening tag was in the template</think>{GOOD_JSON}",
        f"```json\n{json.dumps(GOOD, indent=2)}\n```",
        f"Here you go:\n```\n{GOOD_JSON}\n```",
        '{"facts": [{"text": "Ann lives in Oslo", "importance": 7,},],}',
    ],
    ids=["prose", "think", "orphan-close-think", "fence", "bare-fence", "trailing-commas"],
)
def test_wrapped_replies_are_salvaged(reply: str) -> None:
    result = ask(ScriptedLLM().enqueue(reply))
    assert result.value == Facts.model_validate(GOOD)
    assert result.attempts == 1


def test_truncated_json_then_valid_on_retry_with_the_error_fed_back() -> None:
    truncated = GOOD_JSON[:25]
    llm = ScriptedLLM().enqueue(truncated, GOOD)
    seen: list[bool] = []
    result = ask(llm, on_call=lambda c, ok: seen.append(ok))
    assert result.attempts == 2 and seen == [False, True]
    assert len(result.calls) == 2
    assert result.tokens_out == sum(c.tokens_out for c in result.calls)
    second = llm.calls[1].messages
    assert second[: len(ASK)] == ASK
    assert second[-2] == ChatMessage(role="assistant", content=truncated)
    assert second[-1].role == "user"
    assert "incomplete" in second[-1].content and "cut off" in second[-1].content


def test_validation_error_is_fed_back() -> None:
    bad = {"facts": [{"text": "x", "importance": 99}]}
    llm = ScriptedLLM().enqueue(bad, GOOD)
    assert ask(llm).attempts == 2
    feedback = llm.calls[1].messages[-1].content
    assert "facts.0.importance" in feedback and "less than or equal to 10" in feedback


def test_all_attempts_invalid_raise_with_raw_attempts_and_tokens() -> None:
    llm = ScriptedLLM().enqueue("no json here", '{"facts": 3}', '{"facts": [{"text": 1}]}')
    seen: list[bool] = []
    with pytest.raises(ExtractionError) as info:
        ask(llm, max_retries=2, on_call=lambda c, ok: seen.append(ok))
    err = info.value
    assert err.attempts == 3 and seen == [False, False, False]
    assert err.raw == '{"facts": [{"text": 1}]}'
    assert err.tokens_in > 0 and err.tokens_out > 0
    assert "after 3 attempt(s)" in str(err) and "facts.0.text" in str(err)
    assert llm.pending == 0


def test_zero_retries_asks_once() -> None:
    llm = ScriptedLLM().enqueue("nope", GOOD)
    with pytest.raises(ExtractionError) as info:
        ask(llm, max_retries=0)
    assert info.value.attempts == 1 and llm.pending == 1


def test_empty_reply_is_retried_without_an_empty_assistant_message() -> None:
    llm = ScriptedLLM().enqueue("", GOOD)
    assert ask(llm).attempts == 2
    retry = llm.calls[1].messages
    assert [m.role for m in retry] == ["user", "user"]
    assert "empty" in retry[-1].content


def test_huge_reply_is_echoed_truncated() -> None:
    huge = "blah " * 100_000 + '{"facts": 1'
    llm = ScriptedLLM().enqueue(huge, GOOD)
    assert ask(llm).attempts == 2
    retry = llm.calls[1].messages
    assert len(retry[-2].content) < 2100 and retry[-2].content.endswith("[truncated]")
    assert len(retry[-1].content) < 1000


def test_huge_valid_reply_is_parsed() -> None:
    many = {"facts": [{"text": f"fact {i} {{x}}", "importance": i % 10} for i in range(5000)]}
    result = ask(ScriptedLLM().enqueue("prose { [ " * 1000 + json.dumps(many)))
    assert len(result.value.facts) == 5000


def test_provider_error_is_wrapped_with_usage_so_far() -> None:
    llm = ScriptedLLM().enqueue("not json", ProviderError("HTTP 503 after 5 attempt(s)"))
    seen: list[bool] = []
    with pytest.raises(ExtractionError) as info:
        ask(llm, on_call=lambda c, ok: seen.append(ok))
    err = info.value
    assert isinstance(err.__cause__, ProviderError)
    assert "HTTP 503" in str(err)
    assert err.attempts == 2 and err.raw == "not json"
    assert err.tokens_in > 0 and err.tokens_out > 0
    assert seen == [False]


def test_provider_error_on_first_attempt_has_no_raw() -> None:
    with pytest.raises(ExtractionError) as info:
        ask(ScriptedLLM().enqueue(ProviderError("down")))
    assert info.value.raw is None and info.value.attempts == 1
    assert (info.value.tokens_in, info.value.tokens_out) == (0, 0)


def test_root_model_array() -> None:
    result = ask_structured(
        ScriptedLLM().enqueue("[see note] the list: [1, 2, 3]"), ASK, RootModel[list[int]]
    )
    assert result.value.root == [1, 2, 3]


# --- salvage_json --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"a": 1}', {"a": 1}),
        ("  [1, 2]  ", [1, 2]),
        ('The set {x} is empty, so: {"a": "}{"}', {"a": "}{"}),
        ('{"a": "quote \\" and } brace"} trailing', {"a": 'quote " and } brace'}),
        ('<THINK>{"draft": 1}</THINK> final {"a": 2}', {"a": 2}),
        ('<think>unclosed reasoning then {"a": 3}', {"a": 3}),
        ('{"a": [1, 2,], "b": {"c": 3,},}', {"a": [1, 2], "b": {"c": 3}}),
        ('{"a": ", ]"}', {"a": ", ]"}),
        ('{"a": 1} and then {"b": 2}', {"a": 1}),
        ('{"hi" she said. Then {"a": 1}', {"a": 1}),
        ('{"quote": "<think>kept</think>"}', {"quote": "<think>kept</think>"}),
        ('<think>a</think>\n<think>b</think> {"a": 4}', {"a": 4}),
        ('```json\n{\n  "a": true\n}\n```', {"a": True}),
    ],
)
def test_salvage_json_cases(text: str, expected: Any) -> None:
    assert salvage_json(text) == expected


def test_salvage_json_expect_kind() -> None:
    text = 'see [1] and {"a": [2]}'
    assert salvage_json(text) == [1]
    assert salvage_json(text, expect="object") == {"a": [2]}
    assert salvage_json('{"a": [2]}', expect="array") == [2]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("<think>only thoughts</think>", "empty"),
        ("no json at all", "no JSON"),
        ('{"a": 1, "b": [1, 2', "cut off"),
        ('{"a": 1 "b": 2}', "invalid JSON"),
    ],
)
def test_salvage_json_failures(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        salvage_json(text)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
containers = st.one_of(
    st.dictionaries(st.text(), json_values, max_size=5),
    st.lists(json_values, max_size=5),
)
# Prose before the JSON holds no bracket (it would start a candidate) and no think-tag.
prose_before = st.text(alphabet=st.characters(exclude_characters='{}[]<"', codec="utf-8"))
prose_after = st.text(alphabet=st.characters(codec="utf-8"))


@settings(max_examples=300, deadline=None)
@given(value=containers, before=prose_before, after=prose_after, indent=st.sampled_from([None, 2]))
def test_salvage_json_finds_json_in_random_prose(
    value: Any, before: str, after: str, indent: int | None
) -> None:
    text = before + json.dumps(value, indent=indent, ensure_ascii=False) + after
    assert salvage_json(text) == value


@settings(max_examples=200, deadline=None)
@given(value=st.dictionaries(st.text(), json_values, min_size=1, max_size=5), before=prose_before)
def test_salvage_json_tolerates_trailing_commas(value: dict[str, Any], before: str) -> None:
    encoded = json.dumps(value)
    text = before + encoded[:-1] + ",}"
    assert salvage_json(text, expect="object") == value
