"""Small shared pieces of the upstream config mapping: errors and the no-effect list."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lightmem.errors import ConfigError


@dataclass(slots=True)
class Notes:
    """Upstream keys (dotted) that were accepted but have no effect here."""

    keys: list[str] = field(default_factory=list)

    def note(self, key: str, value: Any) -> None:
        """Record ``key`` unless its value switches the feature off (None, False, empty)."""
        if value is None or value is False:
            return
        if isinstance(value, str | list | dict) and not value:
            return
        self.keys.append(key)

    def note_device(self, key: str, value: Any) -> None:
        """A device setting: LightMem runs its models on the CPU, so ``"cpu"`` is no news."""
        if isinstance(value, Mapping):  # model_kwargs: {"device": ...}
            rest = {k: v for k, v in value.items() if not (k == "device" and v == "cpu")}
            self.note(key, rest)
        elif value != "cpu":
            self.note(key, value)


def bad(key: str, why: str) -> ConfigError:
    return ConfigError(f"upstream config key {key!r}: {why}")


def mapping(value: Any, where: str) -> Mapping[str, Any]:
    """``value`` as a dict (None is empty); anything else is an error naming ``where``."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise bad(where, f"must be a dict, not {type(value).__name__}")
    return value


def section(
    upstream: Mapping[str, Any], key: str, allowed: tuple[str, ...] = ("model_name", "configs")
) -> Mapping[str, Any] | None:
    """An upstream backend section (``{"model_name", "configs"}``), or None when absent."""
    value = upstream.get(key)
    if value is None:
        return None
    out = mapping(value, key)
    only(out, key, allowed)
    return out


def only(values: Mapping[str, Any], where: str, allowed: tuple[str, ...]) -> None:
    extra = sorted(str(k) for k in values if k not in allowed)
    if extra:
        raise bad(f"{where}.{extra[0]}", f"unknown key; {where} takes {', '.join(allowed)}")
