"""Validation of incoming messages. Bad input gets an error that names the message, the
field and the fix; nothing is written unless every message of the call is valid."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lightmem.errors import InputError
from lightmem.ids import new_id
from lightmem.text import has_lone_surrogate, storable, unsafe_url
from lightmem.timeutil import parse_timestamp
from lightmem.types import ImageRef, Scope, Turn

ROLES = frozenset({"user", "assistant", "system", "tool"})
#: The keys of a message, everywhere one is given (Python, REST, CLI files, JSON Lines).
MESSAGE_KEYS = frozenset(
    {"role", "content", "name", "speaker", "timestamp", "time", "session_id", "id", "ref"}
    | {"images"}
)
_KEYS = MESSAGE_KEYS


@dataclass(frozen=True, slots=True)
class AddDefaults:
    session_id: str | None = None
    timestamp: datetime | None = None


def to_turns(messages: object, scope: Scope, defaults: AddDefaults) -> list[Turn]:
    """Turn a message, a string or a list of messages into validated, unsaved turns."""
    if isinstance(messages, str):
        items: Sequence[object] = [{"role": "user", "content": messages}]
    elif isinstance(messages, Mapping):
        items = [messages]
    elif isinstance(messages, Sequence):
        items = messages
    else:
        raise InputError(
            f"messages must be a string, a message dict or a list of them, "
            f"not {type(messages).__name__}"
        )
    if not items:
        raise InputError("messages is empty: pass at least one {'role', 'content'} message")
    return [_one(i, m, scope, defaults) for i, m in enumerate(items)]


def _one(index: int, message: object, scope: Scope, defaults: AddDefaults) -> Turn:
    where = f"message {index}"
    if not isinstance(message, Mapping):
        raise InputError(
            f"{where}: expected a dict with 'role' and 'content', got {type(message).__name__}"
        )
    unknown = sorted(str(k) for k in message if k not in _KEYS)
    if unknown:
        raise InputError(
            f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; allowed keys are "
            f"{', '.join(sorted(_KEYS))}"
        )
    role = message.get("role")
    if role is None:
        raise InputError(f"{where}: missing 'role' (one of {', '.join(sorted(ROLES))})")
    if not isinstance(role, str) or role not in ROLES:
        raise InputError(f"{where}: unknown role {role!r}; use one of {', '.join(sorted(ROLES))}")
    content = message.get("content")
    if content is None:
        raise InputError(f"{where}: missing 'content'")
    if not isinstance(content, str):
        raise InputError(f"{where}: 'content' must be a string, got {type(content).__name__}")
    if not content.strip():
        raise InputError(f"{where}: 'content' is empty")
    if "\x00" in content:
        raise InputError(f"{where}: 'content' contains a NUL character (\\x00); remove it")
    if has_lone_surrogate(content):
        raise InputError(
            f"{where}: 'content' is not valid Unicode (a lone surrogate such as \\udfff); "
            f"decode the text properly before adding it"
        )
    speaker = _opt_str(message, "speaker", where) or _opt_str(message, "name", where)
    raw_time: Any = message.get("timestamp", message.get("time"))
    timestamp = (
        parse_timestamp(raw_time, field=f"{where}: timestamp")
        if raw_time is not None
        else defaults.timestamp
    )
    session = _opt_str(message, "session_id", where)
    if session is not None:  # the same id as run_id, held to the same rule
        check_id(session, f"{where}: session_id")
    session = session or defaults.session_id or scope.run_id
    ref = _opt_str(message, "ref", where) or _opt_str(message, "id", where)
    images = parse_images(message.get("images"), where)
    return Turn(
        id=new_id(),
        scope=Scope(scope.user_id, scope.agent_id, session),
        seq=0,
        role=role,
        content=content,
        speaker=speaker,
        session_id=session,
        timestamp=timestamp,
        ref=ref,
        images=images,
    )


def parse_images(value: object, where: str) -> list[ImageRef]:
    """``images``: a list of URLs (or paths) or of ``{"url", "caption"?}``."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise InputError(f"{where}: 'images' must be a list of URLs or {{'url', 'caption'}}")
    out = []
    for item in value:
        if isinstance(item, str) and item.strip():
            out.append(ImageRef(_image_url(item, where)))
            continue
        ok = isinstance(item, Mapping) and set(item) <= {"url", "caption"}
        url = item.get("url") if isinstance(item, Mapping) else None
        caption = item.get("caption") if isinstance(item, Mapping) else None
        if not ok or not isinstance(url, str) or not url.strip():
            raise InputError(f"{where}: an image is a URL or {{'url': str, 'caption'?: str}}")
        if caption is not None and not isinstance(caption, str):
            raise InputError(f"{where}: an image caption must be a string")
        out.append(ImageRef(_image_url(url, where), caption or None))
    return out


def _image_url(url: str, where: str) -> str:
    if unsafe_url(url):
        raise InputError(
            f"{where}: an image URL may not hold control characters nor be a javascript:, "
            f"vbscript: or data: URL (data:image/... is allowed); give an http(s) URL or a path"
        )
    return url


def _opt_str(message: Mapping[str, object], key: str, where: str) -> str | None:
    value = message.get(key)
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InputError(f"{where}: {key!r} must be a string, got {type(value).__name__}")
    if not storable(value):
        raise InputError(f"{where}: {key!r} contains a NUL character or invalid Unicode")
    return value or None


def check_ids(user_id: object, agent_id: object, run_id: object) -> None:
    """Each id given is a non-empty string without control characters (NUL, newline, ...)
    or lone surrogates: an id that cannot be written, logged or typed is refused."""
    for name, value in (("user_id", user_id), ("agent_id", agent_id), ("run_id", run_id)):
        if value is not None:
            check_id(value, name)


def check_id(value: object, name: str) -> None:
    """One id: a non-empty string without control characters or lone surrogates."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{name} must be a non-empty string, got {value!r}")
    if any(ord(c) < 32 or c == "\x7f" for c in value):
        raise InputError(
            f"{name} must not contain control characters (NUL, newline, ...): {value!r}"
        )
    if has_lone_surrogate(value):
        raise InputError(f"{name} must be valid Unicode text (it holds a lone surrogate)")


def make_scope(user_id: str | None, agent_id: str | None, run_id: str | None) -> Scope:
    """Validate a scope: at least one of user_id / agent_id, all non-empty strings."""
    check_ids(user_id, agent_id, run_id)
    if user_id is None and agent_id is None:
        raise InputError("a scope is required: pass user_id=... and/or agent_id=...")
    return Scope(user_id, agent_id, run_id)


def check_flag(value: object, name: str, *, optional: bool = False) -> None:
    """A flag is True or False (or None when ``optional``): never a truthy string, for a
    flag like ``purge`` that cannot be undone."""
    if isinstance(value, bool) or (optional and value is None):
        return
    raise InputError(f"{name} must be True or False, got {value!r}")


def check_note(value: object, name: str, *, optional: bool = True, max_chars: int = 1000) -> None:
    """A short text argument (a reason, an actor, an author): a string of at most
    ``max_chars`` characters, without NUL or invalid Unicode (None when ``optional``)."""
    if value is None and optional:
        return
    if (
        not isinstance(value, str)
        or not value.strip()
        or len(value) > max_chars
        or not storable(value)
    ):
        raise InputError(
            f"{name} must be a non-empty string of at most {max_chars} characters without "
            f"NUL or invalid Unicode, got {str(value)[:60]!r}"
        )


def check_memory_id(value: object) -> None:
    if not isinstance(value, str) or not value:
        raise InputError(f"a memory id is a non-empty string, got {str(value)[:60]!r}")


def check_limit(value: object, name: str = "limit") -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InputError(f"{name} must be a whole number of 1 or more, got {value!r}")


def scope_arg(value: Scope | dict[str, str], what: str) -> Scope:
    """An owner scope given as a Scope or ``{"user_id": ..., "agent_id": ...}``."""
    if isinstance(value, Scope):
        return make_scope(value.user_id, value.agent_id, None)
    if isinstance(value, dict) and set(value) <= {"user_id", "agent_id"}:
        return make_scope(value.get("user_id"), value.get("agent_id"), None)
    raise InputError(f"{what} must be a Scope or {{'user_id': ..., 'agent_id': ...}}")


def check_idempotency_key(key: object) -> None:
    if not isinstance(key, str) or not key.strip() or len(key) > 256 or not key.isprintable():
        raise InputError(
            "an idempotency key must be a non-empty printable string of at most 256 "
            "characters (a UUID per request is the usual choice)"
        )


def request_digest(scope: Scope, turns: list[Turn]) -> str:
    """What makes two adds the same request: the scope and each message as given (times
    the caller set; not the ids or the default time the store assigns)."""
    rows = [
        [t.role, t.content, t.speaker, t.session_id, t.ref, t.timestamp and t.timestamp.isoformat()]
        for t in turns
    ]
    body = {"scope": [scope.user_id, scope.agent_id, scope.run_id], "turns": rows}
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode("utf-8")).hexdigest()


def check_add(run_id: object, session_id: object, author: object) -> None:
    """The arguments of ``Memory.add`` besides the messages."""
    if run_id is not None and session_id is not None and run_id != session_id:
        raise InputError("run_id and session_id are the same thing; pass only one")
    if session_id is not None:
        check_id(session_id, "session_id")
    check_note(author, "author", max_chars=256)


def check_change(
    memory_id: object, reason: object, actor: object, text: object | None = None
) -> str | None:
    """The arguments of an edit (``text`` given) or a delete; the edit's text, stripped."""
    check_memory_id(memory_id)
    check_note(reason, "reason")
    check_note(actor, "actor", optional=False, max_chars=256)
    if text is None:
        return None
    if not isinstance(text, str) or not text.strip():
        raise InputError("the new text of a memory must be a non-empty string")
    if not storable(text):
        raise InputError(
            "the memory's new text contains a NUL character or invalid Unicode "
            "(a lone surrogate); remove it"
        )
    return text.strip()


def check_forget(
    ids: object,
    purge: object,
    dry_run: object,
    reason: object,
    actor: object,
    turn_ids: object = None,
) -> None:
    """The arguments of ``Memory.forget`` besides the query and the scope."""
    check_flag(purge, "purge")
    check_flag(dry_run, "dry_run")
    check_note(reason, "reason")
    check_note(actor, "actor", optional=False, max_chars=256)
    check_id_list(ids, "ids", "memory ids")
    check_id_list(turn_ids, "turn_ids", "turn ids")


def check_id_list(ids: object, name: str, what: str) -> None:
    """``None`` or a list of non-empty id strings."""
    if ids is not None and (
        not isinstance(ids, list) or not all(isinstance(i, str) and i for i in ids)
    ):
        raise InputError(f"{name} must be a list of {what}")
