"""Reading one chat-completion request: its JSON (the fields the proxy needs checked, every
other field passed upstream as it is), whose memory it uses and which session it adds to."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from lightmem.access import ANONYMOUS, Principal
from lightmem.errors import InputError
from lightmem.messages import check_ids
from lightmem.server.models import MAX_ID

USER_HEADER = "x-lightmem-user"
SESSION_HEADER = "x-lightmem-session"


def parse_chat(raw: bytes) -> dict[str, Any]:
    """The request body, checked: an object with a non-empty ``messages`` list of objects
    that have a ``role``; ``stream`` a boolean and ``user`` a string when given."""
    try:
        body = json.loads(raw, parse_constant=_no_constant, parse_float=_finite)
    except _NotFinite as exc:
        raise InputError(
            f"the request body holds {exc}: JSON has no such number; send a finite one"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"the request body is not JSON: {exc}") from None
    except RecursionError:
        raise InputError("the request body is nested too deeply to be a chat request") from None
    if not isinstance(body, dict):
        raise InputError("the request body must be a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InputError("'messages' must be a non-empty list of messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise InputError(f"messages[{i}] must be an object with a string 'role'")
        if not isinstance(message.get("content"), str | list | None):
            raise InputError(
                f"messages[{i}].content must be a string, a list of content parts or null"
            )
    if body.get("stream") is not None and not isinstance(body["stream"], bool):
        raise InputError("'stream' must be true or false")
    if body.get("user") is not None and not isinstance(body["user"], str):
        raise InputError("'user' must be a string")
    return body


class _NotFinite(Exception):
    """A number JSON cannot carry (NaN, Infinity, 1e999): nothing upstream could be sent it."""


def _no_constant(name: str) -> float:
    raise _NotFinite(name)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _NotFinite(f"{text[:40]} (too large)")
    return value


def chosen_user(body: dict[str, Any], headers: Mapping[str, str], caller: Principal) -> str | None:
    """The user named by the ``user`` field or the ``X-LightMem-User`` header (they must
    agree); None leaves it to the key, which must then cover one scope."""
    field, header = body.get("user") or None, headers.get(USER_HEADER) or None
    if field is not None and header is not None and field != header:
        raise InputError(
            "the 'user' field and the X-LightMem-User header name different users: send one"
        )
    user = field or header
    if user is not None:
        _short("the user (the 'user' field or X-LightMem-User)", user)
    if user is None and (caller.admin or len(caller.scopes) > 1):
        why = "no key was sent" if caller == ANONYMOUS else "this key covers more than one"
        raise InputError(
            "name the user whose memory to use: the 'user' field or an X-LightMem-User header "
            f"({why})"
        )
    return user


def session_of(headers: Mapping[str, str], caller: Principal) -> str:
    """The ``X-LightMem-Session`` header, else the key's own default session."""
    session = headers.get(SESSION_HEADER) or f"proxy-{caller.name}"
    _short("the X-LightMem-Session header", session)
    check_ids(None, None, session)
    return session


def _short(what: str, value: str) -> None:
    """An id from a request is at most as long as the REST API's ids."""
    if len(value) > MAX_ID:
        raise InputError(f"{what} is {len(value)} characters long; an id has at most {MAX_ID}")
