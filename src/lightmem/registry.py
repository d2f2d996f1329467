"""One registry, one source of truth for provider names.

Built-in backends register through the same ``lightmem.backends`` entry-point group as
third-party plugins (see ``pyproject.toml``); the entry name is ``"<kind>.<provider>"``.
A dotted path (``"mypkg.stores.MyStore"``) is accepted as an escape hatch and type-checked.
Tests may :func:`register` a class directly; that is the same table the entry points fill.

:func:`build` turns a config section into a backend. ``provider = "auto"`` is resolved here
too, by asking the backends of the kind that offer themselves: those listed (with the same
name and class) in the ``lightmem.auto`` entry-point group, or registered directly with an
``auto_priority``. The one of highest ``auto_priority`` whose ``auto_available`` says yes is
chosen, built-in or plugin alike; when none does, the kind's fallback (:data:`AUTO_FALLBACK`)
is built with its defaults. Only those candidates are imported: opening a memory never
loads every installed plugin (a benchmark's fake LLMs stay unimported).
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any, Final, TypeVar

from lightmem.config import BackendSection, parse_options
from lightmem.errors import ConfigError
from lightmem.llm.base import LLM

KINDS: Final = ("llm", "embedder", "store", "compressor", "segmenter", "image_embedder")
GROUP: Final = "lightmem.backends"
#: The backends that offer themselves for ``auto`` (a subset of :data:`GROUP`).
AUTO_GROUP: Final = "lightmem.auto"
AUTO: Final = "auto"
#: What ``auto`` builds when no backend of the kind offers itself: no-LLM mode.
AUTO_FALLBACK: Final = {"llm": "none"}

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

    def auto(
        self, kind: str, base: type[T], options: Mapping[str, Any], environ: Mapping[str, str]
    ) -> str:
        """The provider ``auto`` stands for: of the classes of ``kind`` that declare an
        ``auto_priority``, the highest whose ``auto_available(options, environ)`` is true
        (ties by name); else the kind's fallback."""
        offers: list[tuple[int, str, Any]] = []
        for name in self._auto_candidates(kind):
            cls: Any = self.resolve(kind, name, base)
            priority = getattr(cls, "auto_priority", None)
            if priority is not None:
                offers.append((-int(priority), name, cls))
        for _, name, cls in sorted(offers, key=lambda o: o[:2]):
            if cls.auto_available(options, environ):
                return name
        if kind in AUTO_FALLBACK:
            return AUTO_FALLBACK[kind]
        raise ConfigError(f"no {kind} provider is available for 'auto'; name one")

    def _auto_candidates(self, kind: str) -> list[str]:
        """The provider names of ``kind`` that may offer themselves for ``auto``."""
        found = {n for (k, n) in self._explicit if k == kind}
        for ep in entry_points(group=AUTO_GROUP):
            k, _, n = ep.name.partition(".")
            if k == kind:
                found.add(n)
        return sorted(found)


def build(
    kind: str, section: BackendSection, base: type[T], environ: Mapping[str, str] | None = None
) -> T:
    """The backend ``section`` names, built with its validated options. With ``auto`` the
    options are those of the backend it picks; the fallback (no-LLM mode) is built with its
    defaults, also when named: the options kept beside it are an endpoint's, there for when
    the store goes back to it (``--llm none`` on a store configured for ``openai``)."""
    provider, options = section.provider, section.options
    if provider == AUTO:
        env = os.environ if environ is None else environ
        provider = registry.auto(kind, base, options, env)
    if provider == AUTO_FALLBACK.get(kind):
        options = {}
    cls: Any = registry.resolve(kind, provider, base)
    backend: T = cls(parse_options(cls.Options, options, kind))
    return backend


def build_llm(section: BackendSection, environ: Mapping[str, str] | None = None) -> LLM:
    return build("llm", section, LLM, environ)


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
