"""One registry, one source of truth for provider names.

Built-in backends register through the same ``lightmem.backends`` entry-point group as
third-party plugins (see ``pyproject.toml``); the entry name is ``"<kind>.<provider>"``.
A dotted path (``"mypkg.stores.MyStore"``) is accepted as an escape hatch and type-checked.
Tests may :func:`register` a class directly; that is the same table the entry points fill.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Final, TypeVar

from lightmem.errors import ConfigError

KINDS: Final = ("llm", "embedder", "store", "compressor", "segmenter")
GROUP: Final = "lightmem.backends"

T = TypeVar("T")


class Registry:
    """Maps (kind, provider name) to a backend class."""

    def __init__(self) -> None:
        self._explicit: dict[tuple[str, str], type] = {}

    def register(self, kind: str, name: str, cls: type) -> None:
        _check_kind(kind)
        self._explicit[(kind, name)] = cls

    def names(self, kind: str) -> list[str]:
        _check_kind(kind)
        found = {n for (k, n) in self._explicit if k == kind}
        for ep in entry_points(group=GROUP):
            k, _, n = ep.name.partition(".")
            if k == kind:
                found.add(n)
        return sorted(found)

    def resolve(self, kind: str, name: str, base: type[T]) -> type[T]:
        """Return the class for ``name`` of ``kind``, checked to subclass ``base``."""
        _check_kind(kind)
        cls: Any = self._explicit.get((kind, name))
        if cls is None:
            for ep in entry_points(group=GROUP):
                if ep.name == f"{kind}.{name}":
                    cls = ep.load()
                    break
        if cls is None and "." in name:
            cls = _import_dotted(name)
        if cls is None:
            known = ", ".join(self.names(kind)) or "none"
            raise ConfigError(
                f"unknown {kind} provider {name!r}; known providers: {known} "
                f"(or give a dotted path such as 'mypkg.module.Class')"
            )
        if not (isinstance(cls, type) and issubclass(cls, base)):
            raise ConfigError(
                f"{kind} provider {name!r} resolves to {cls!r}, not a {base.__name__}"
            )
        return cls


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ConfigError(f"unknown backend kind {kind!r}; kinds are {', '.join(KINDS)}")


def _import_dotted(path: str) -> Any:
    module_name, _, attr = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import {module_name!r} for provider {path!r}: {exc}") from exc
    try:
        return getattr(module, attr)
    except AttributeError as exc:
        raise ConfigError(f"module {module_name!r} has no attribute {attr!r}") from exc


registry: Final = Registry()
