"""Pure helpers of the store integration: the text of an item (what LightMem's retrieval
ranks), a structured filter on its value, and namespace matching with wildcards."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

#: Comparison operators a filter may use, as LangGraph's stores take them.
OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte")


def value_text(value: dict[str, Any], fields: Sequence[str]) -> str:
    """The text of ``value`` at ``fields`` (``"$"``: the whole value; otherwise paths such as
    ``"memory"``, ``"profile.name"``, ``"notes[*]"``): its string leaves, ``key: value``
    where there are several, or the value's JSON when no field holds text."""
    texts: list[str] = []
    for field in fields:
        texts += leaves(value, prefix="") if field == "$" else _at(value, field)
    text = "\n".join(t for t in texts if t.strip())
    return text or json.dumps(value, ensure_ascii=False, sort_keys=True)


def leaves(value: Any, prefix: str) -> list[str]:
    """Scalar leaves of a JSON value: a lone string as is, else ``path: value`` each."""
    if isinstance(value, str):
        return [value]
    flat = _flatten(value, prefix)
    if len(flat) == 1 and isinstance(flat[0][1], str):
        return [flat[0][1]]
    return [f"{path}: {leaf}" if path else str(leaf) for path, leaf in flat]


def _flatten(value: Any, path: str) -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [x for k, v in value.items() for x in _flatten(v, f"{path}.{k}" if path else k)]
    if isinstance(value, list):
        return [x for i, v in enumerate(value) for x in _flatten(v, f"{path}[{i}]")]
    return [] if value is None else [(path, value)]


def _at(value: Any, field: str) -> list[str]:
    """The texts at a dotted path; ``[n]``, ``[-1]`` and ``[*]`` index lists."""
    nodes = [value]
    for part in field.replace("[", ".[").split("."):
        if not part:
            continue
        nodes = [child for node in nodes for child in _step(node, part)]
    return [t for node in nodes for t in leaves(node, "")]


def _step(node: Any, part: str) -> list[Any]:
    if part.startswith("[") and part.endswith("]"):
        if not isinstance(node, list):
            return []
        if part == "[*]":
            return list(node)
        try:
            return [node[int(part[1:-1])]]
        except (ValueError, IndexError):
            return []
    return [node[part]] if isinstance(node, dict) and part in node else []


def matches(value: dict[str, Any], filter: dict[str, Any]) -> bool:
    """Whether ``value`` passes ``filter``: each key equal, or compared by operators
    (``{"score": {"$gte": 3}}``); nested objects compare key by key."""
    return all(_passes(value.get(k), want) for k, want in filter.items())


def _passes(have: Any, want: Any) -> bool:
    if isinstance(want, dict) and want and all(k in OPERATORS for k in want):
        return all(_compare(have, op, target) for op, target in want.items())
    if isinstance(want, dict):
        return isinstance(have, dict) and matches(have, want)
    return bool(have == want)


def _compare(have: Any, op: str, target: Any) -> bool:
    if op == "$eq":
        return bool(have == target)
    if op == "$ne":
        return bool(have != target)
    try:
        if op == "$gt":
            return bool(have > target)
        if op == "$gte":
            return bool(have >= target)
        if op == "$lt":
            return bool(have < target)
        return bool(have <= target)
    except TypeError:  # None, or a string against a number: not a match
        return False


def namespace_matches(kind: str, path: Sequence[str], namespace: tuple[str, ...]) -> bool:
    """A ``prefix`` or ``suffix`` condition, ``"*"`` matching any one label."""
    if len(namespace) < len(path):
        return False
    labels = namespace[: len(path)] if kind == "prefix" else namespace[len(namespace) - len(path) :]
    return all(p in ("*", label) for p, label in zip(path, labels, strict=True))
