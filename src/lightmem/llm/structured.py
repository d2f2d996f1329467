"""THE structured-output path (instructor-style). Every stage that wants typed output from an
LLM calls :func:`ask_structured`; no backend parses JSON on its own.

1. The output model's JSON schema goes to the backend, which constrains its output where it
   can (a JSON-schema response format, a llama.cpp grammar).
2. :func:`salvage_json` digs the JSON out of whatever came back: think-tags, code fences,
   prose around it, trailing commas.
3. Pydantic validates it. On failure the reply and a short description of the problem are
   appended to the conversation and the model is asked again, ``max_retries`` more times.
4. When the retries run out, :class:`ExtractionError` carries the last raw reply, the number
   of attempts and the summed token usage.

Transport failures are retried inside the backend, not here. When the backend gives up, its
:class:`ProviderError` is wrapped in an :class:`ExtractionError` (``__cause__`` is the
ProviderError; ``raw`` is the last reply received, or ``None``) so that the caller always
sees the usage spent so far. An endpoint that could not be reached at all
(:class:`~lightmem.errors.UnreachableError`) is raised as it is: nothing was asked, and the
caller waits for the endpoint rather than counting a failed attempt. ``on_call`` sees every
completion.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from lightmem.errors import ExtractionError, ProviderError, UnreachableError
from lightmem.llm.base import LLM, ChatMessage, Completion

T = TypeVar("T", bound=BaseModel)

#: Called once per completion with whether its reply validated.
OnCall = Callable[[Completion, bool], None]

ECHO_LIMIT = 2000  # characters of a bad reply echoed back to the model
PROBLEM_LIMIT = 800  # characters of the problem description fed back


@dataclass(slots=True)
class StructuredResult(Generic[T]):
    value: T
    attempts: int
    tokens_in: int
    tokens_out: int
    seconds: float
    raw: str
    calls: list[Completion] = field(default_factory=list)


def ask_structured(
    llm: LLM,
    messages: list[ChatMessage],
    output_model: type[T],
    *,
    max_retries: int = 2,
    max_tokens: int | None = None,
    on_call: OnCall | None = None,
) -> StructuredResult[T]:
    """Ask ``llm`` for an ``output_model``; validate, re-ask with the error, or raise.

    Raises :class:`ExtractionError` when no attempt validates or when the backend fails
    (then chained from its :class:`ProviderError`).
    """
    if max_retries < 0:
        raise ValueError("max_retries must be >= 0")
    schema = output_model.model_json_schema()
    expect = _expected_kind(schema)
    history = list(messages)
    calls: list[Completion] = []
    raw: str | None = None
    problem = ""
    start = time.perf_counter()
    attempts = max_retries + 1
    for attempt in range(1, attempts + 1):
        try:
            completion = llm.complete(history, schema=schema, max_tokens=max_tokens)
        except UnreachableError:
            raise
        except ProviderError as exc:
            raise ExtractionError(
                f"LLM call failed on attempt {attempt} of {attempts}: {exc}",
                raw=raw,
                attempts=attempt,
                tokens_in=sum(c.tokens_in for c in calls),
                tokens_out=sum(c.tokens_out for c in calls),
            ) from exc
        calls.append(completion)
        raw = completion.text
        try:
            value = output_model.model_validate(salvage_json(raw, expect=expect))
        except ValidationError as exc:
            problem = "the JSON does not match the schema: " + _describe_validation(exc)
        except ValueError as exc:
            problem = str(exc)
        else:
            if on_call is not None:
                on_call(completion, True)
            return StructuredResult(
                value=value,
                attempts=attempt,
                tokens_in=sum(c.tokens_in for c in calls),
                tokens_out=sum(c.tokens_out for c in calls),
                seconds=time.perf_counter() - start,
                raw=raw,
                calls=calls,
            )
        if on_call is not None:
            on_call(completion, False)
        history.extend(_feedback(raw, problem))
    raise ExtractionError(
        f"the LLM gave no valid {reply_name(output_model)} after {attempts} attempt(s): {problem}",
        raw=raw,
        attempts=attempts,
        tokens_in=sum(c.tokens_in for c in calls),
        tokens_out=sum(c.tokens_out for c in calls),
    )


def reply_name(model: type[BaseModel]) -> str:
    """What a reply model is, in words: ``ExtractionOutput4`` -> "extraction output" (JSON)."""
    words = re.findall(r"[A-Z][a-z]*|[a-z]+", model.__name__.rstrip("0123456789"))
    return " ".join(w.lower() for w in words) + " (JSON)" if words else "JSON reply"


def _feedback(raw: str, problem: str) -> list[ChatMessage]:
    """The assistant's bad reply (shortened) and a user message naming the problem."""
    out = []
    if raw.strip():
        echo = raw if len(raw) <= ECHO_LIMIT else raw[:ECHO_LIMIT] + " ...[truncated]"
        out.append(ChatMessage(role="assistant", content=echo))
    if len(problem) > PROBLEM_LIMIT:
        problem = problem[:PROBLEM_LIMIT] + " ..."
    out.append(
        ChatMessage(
            role="user",
            content=(
                f"Your previous reply could not be used: {problem}\n"
                "Reply again with only the JSON that matches the schema: no prose, no code "
                "fences."
            ),
        )
    )
    return out


def _describe_validation(exc: ValidationError, limit: int = 8) -> str:
    errors = exc.errors(include_url=False, include_input=False)
    parts = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in errors]
    if len(parts) > limit:
        parts = [*parts[:limit], f"and {len(parts) - limit} more error(s)"]
    return "; ".join(parts)


def _expected_kind(schema: dict[str, Any]) -> Literal["object", "array", "any"]:
    kind = schema.get("type")
    if kind == "object" or "properties" in schema:
        return "object"
    if kind == "array":
        return "array"
    return "any"


# --- JSON salvage ---------------------------------------------------------------------------

_THINK_BLOCK = re.compile(r"\s*<(think|thinking|reasoning)>.*?</\1>", re.S | re.I)
_THINK_OPEN = re.compile(r"\s*<(?:think|thinking|reasoning)>", re.I)
_THINK_CLOSE = re.compile(r"</(?:think|thinking|reasoning)>", re.I)
_FENCE = re.compile(r"^[ \t]*```[\w+-]*[ \t]*$", re.M)
_OPENERS = {"object": "{", "array": "[", "any": "{["}
_CLOSERS = {"{": "}", "[": "]"}
_DECODER = json.JSONDecoder()


def salvage_json(text: str, *, expect: Literal["object", "array", "any"] = "any") -> Any:
    """Return the first JSON value of kind ``expect`` found in an LLM reply.

    Strips ``<think>...</think>`` blocks (and a dangling opening or closing think-tag), code
    fences and the prose around the JSON; strings containing brackets are handled; trailing
    commas are tolerated. Raises :class:`ValueError` naming the problem (no JSON, invalid
    JSON, a reply cut off mid-JSON) when nothing can be recovered.
    """
    text = strip_reasoning(text)
    text = _FENCE.sub("", text).strip()
    if not text:
        raise ValueError("the reply is empty (no JSON found)")
    try:
        try:
            whole = json.loads(text)
        except ValueError:
            pass
        else:
            if _is_kind(whole, expect):
                return whole
        return _scan(text, _OPENERS[expect])
    except RecursionError:
        raise ValueError("the reply's JSON is nested too deeply to parse") from None


def strip_reasoning(text: str) -> str:
    """Remove a reasoning model's leading think blocks from a reply, keeping the answer.

    Only leading blocks are removed, so a think-tag quoted inside the JSON survives. An
    unclosed leading tag loses only the tag (the answer may follow inside it); a closing tag
    without an opening one (the opening tag was in the prompt template) drops all before it.
    """
    while (block := _THINK_BLOCK.match(text)) is not None:
        text = text[block.end() :]
    if (opening := _THINK_OPEN.match(text)) is not None:
        return text[opening.end() :]
    close = _THINK_CLOSE.search(text)
    if close is not None and _THINK_OPEN.search(text, 0, close.start()) is None:
        return text[close.end() :]
    return text


def _is_kind(value: Any, expect: str) -> bool:
    if expect == "object":
        return isinstance(value, dict)
    if expect == "array":
        return isinstance(value, list)
    return True


def _scan(text: str, openers: str) -> Any:
    """Try each opening bracket in turn; skip over candidates that were JSON and broke."""
    pattern = re.compile("[" + re.escape(openers) + "]")
    first_problem: str | None = None
    pos = 0
    while (match := pattern.search(text, pos)) is not None:
        p = match.start()
        try:
            return _DECODER.raw_decode(text, p)[0]
        except json.JSONDecodeError as err:
            if not _looks_like_json(text, p):
                pos = p + 1  # a bracket in prose, not the start of JSON
                continue
            decode_error = err
        end = _balanced_end(text, p)
        if end is None:
            first_problem = first_problem or (
                f"the JSON starting at character {p} is incomplete ({decode_error.msg} at "
                f"character {decode_error.pos}); the reply looks cut off"
            )
            pos = max(decode_error.pos, p + 1)
            continue
        try:
            return json.loads(_drop_trailing_commas(text[p:end]))
        except json.JSONDecodeError as err:
            first_problem = first_problem or (
                f"invalid JSON starting at character {p}: {err.msg} at character {p + err.pos}"
            )
        pos = end
    if first_problem:
        raise ValueError(first_problem)
    kind = {"{": "JSON object", "[": "JSON array"}.get(openers, "JSON")
    raise ValueError(f"no {kind} found in the reply")


def _looks_like_json(text: str, p: int) -> bool:
    """Does the bracket at ``p`` open JSON (judged by the next non-blank character)?"""
    rest = text[p + 1 : p + 200].lstrip()
    if not rest:
        return True  # a bare opening bracket at the end: a cut-off reply
    allowed = '"}' if text[p] == "{" else '"{[]-0123456789tfn'
    return rest[0] in allowed


def _balanced_end(text: str, start: int) -> int | None:
    """Index just past the bracket closing ``text[start]``; None if it never closes."""
    stack: list[str] = []
    in_string = False
    escaped = False
    for i in range(start, len(text)):
        c = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in _CLOSERS:
            stack.append(_CLOSERS[c])
        elif c in "}]":
            if not stack or stack.pop() != c:
                return i + 1  # mismatched: let the decoder name the error
            if not stack:
                return i + 1
    return None


def _drop_trailing_commas(fragment: str) -> str:
    """Remove commas directly before a closing bracket, outside strings."""
    out: list[str] = []
    in_string = False
    escaped = False
    pending_comma: int | None = None
    for c in fragment:
        if in_string:
            out.append(c)
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
            continue
        if c in "}]" and pending_comma is not None:
            del out[pending_comma]
        if not c.isspace():
            pending_comma = None
        if c == ",":
            pending_comma = len(out)
        elif c == '"':
            in_string = True
        out.append(c)
    return "".join(out)
