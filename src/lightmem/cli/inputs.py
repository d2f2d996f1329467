"""Reading the CLI's input files: messages for ``add`` and exported records for ``import``.

Every problem is an :class:`InputError` that names the file, and for JSON Lines the line:
the command then exits with code 2 before anything is written.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from lightmem.errors import InputError

STDIN = "-"


def read_source(source: str) -> tuple[str, str]:
    """The UTF-8 text of a file, or of stdin for ``-``, and the name to use in errors."""
    if source == STDIN:
        stream = getattr(sys.stdin, "buffer", None)
        data = stream.read() if stream is not None else sys.stdin.read().encode("utf-8")
        name = "<stdin>"
    else:
        path = Path(source)
        name = str(path)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise InputError(f"{name}: no such file; check the path") from None
        except IsADirectoryError:
            raise InputError(f"{name}: is a directory; give the path of a file") from None
        except OSError as exc:
            raise InputError(f"{name}: cannot be read ({exc.strerror})") from None
    try:
        return data.decode("utf-8-sig"), name
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "re-save it as UTF-8"
        ) from None


def parse_messages(text: str, name: str) -> list[dict[str, Any]] | dict[str, Any]:
    """A JSON list of messages, one JSON message object, or JSON Lines (one per line).

    A ``.jsonl`` name, or a document that is not JSON as a whole but whose every line starts
    with ``{``, is read as JSON Lines, and an error names the line.
    """
    if not text.strip():
        raise InputError(
            f"{name}: is empty; give a JSON list of messages, one message object, or JSON Lines"
        )
    if name.endswith(".jsonl"):
        return parse_jsonl(text, name, what="message")
    try:
        data = json.loads(text)
    except RecursionError:
        raise InputError(f"{name}: is nested too deeply to hold messages") from None
    except json.JSONDecodeError as exc:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1 and all(line.lstrip().startswith("{") for line in lines):
            return parse_jsonl(text, name, what="message")
        raise InputError(
            f"{name}: is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"
        ) from None
    if not isinstance(data, list | dict):
        raise InputError(
            f"{name}: expected a JSON list of messages or one message object, "
            f"got a JSON {_kind(data)}"
        )
    return data


def parse_jsonl(text: str, name: str, *, what: str) -> list[dict[str, Any]]:
    """One JSON object per line (blank lines skipped); ``what`` names an item in errors."""
    items: list[dict[str, Any]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except RecursionError:
            raise InputError(
                f"{name}, line {lineno}: is nested too deeply to be a {what} object"
            ) from None
        except json.JSONDecodeError as exc:
            raise InputError(
                f"{name}, line {lineno}: is not valid JSON ({exc.msg}, column {exc.colno}); "
                f"write one JSON {what} object per line"
            ) from None
        if not isinstance(item, dict):
            raise InputError(
                f"{name}, line {lineno}: expected a JSON {what} object, got a JSON {_kind(item)}"
            )
        items.append(item)
    if not items:
        raise InputError(f"{name}: holds no {what}s; write one JSON object per line")
    return items


def by_user(
    messages: list[dict[str, Any]] | dict[str, Any], user: str | None, name: str
) -> dict[str | None, list[dict[str, Any]]]:
    """The messages grouped by their ``user_id`` (a message without one is ``user``'s), in
    file order; the key is taken off each message. A ``user_id`` other than ``--user`` is
    an error: which one was meant is not for the CLI to guess."""
    groups: dict[str | None, list[dict[str, Any]]] = {}
    for i, message in enumerate(messages if isinstance(messages, list) else [messages]):
        owner = user
        if isinstance(message, dict) and "user_id" in message:
            message = dict(message)
            given = message.pop("user_id")
            if not isinstance(given, str) or not given.strip():
                raise InputError(f"{name}, message {i}: 'user_id' must be a non-empty string")
            if user is not None and given != user:
                raise InputError(
                    f"{name}, message {i}: user_id {given!r} differs from --user {user!r}; "
                    "drop one of them"
                )
            owner = given
        groups.setdefault(owner, []).append(message)
    return groups


def _kind(value: object) -> str:
    return {
        str: "string",
        int: "number",
        float: "number",
        bool: "boolean",
        list: "list",
        dict: "object",
    }.get(type(value), "null")
