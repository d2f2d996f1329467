"""The store directory: created with owner-only permissions, the resolved config saved
beside the store (secrets left out), and the embedder a store was built with checked at
every open."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from lightmem.config import MemoryConfig, StoreSection
from lightmem.errors import ConfigError, StorageError
from lightmem.stores.base import Store

CONFIG_FILE = "config.json"
SQLITE_FILE = "lightmem.sqlite3"
_SECRET_KEYS = frozenset({"api_key", "password", "dsn", "url"})


def make_store_dir(path: Path) -> None:
    """Create the store directory (or accept an existing one), as a StorageError that says
    what to change when the path is a file or cannot be written."""
    if path.exists() and not path.is_dir():
        raise StorageError(
            f"the store path {str(path)!r} is a file, not a directory; give a directory "
            f"(it is created if missing)"
        )
    try:
        if not path.exists():
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.chmod(path, 0o700)  # only its owner reads a store, whatever the umask
    except OSError as exc:
        raise StorageError(
            f"cannot create the store directory {str(path)!r}: {exc.strerror or exc}; give a "
            f"path on a writable file system, or fix its permissions"
        ) from None


def store_section(config: MemoryConfig, path: Path) -> StoreSection:
    """The store section to build: a SQLite file lives in the store directory (the saved
    config does not pin its path)."""
    section = config.store
    if section.provider == "sqlite" and "path" not in section.options:
        options = {**section.options, "path": str(path / SQLITE_FILE)}
        section = section.model_copy(update={"options": options})
    return section


def saved_config(path: Path) -> Path | None:
    saved = path / CONFIG_FILE
    return saved if saved.is_file() else None


def check_embedder(store: Store, model_id: str) -> None:
    """A store answers with the embedder it was built with: another one is a ConfigError."""
    stored = store.get_meta("embedder")
    if stored is None:
        store.set_meta("embedder", model_id)
    elif stored != model_id:
        raise ConfigError(
            f"this store was built with the embedder {stored!r}, but the config selects "
            f"{model_id!r}; configure the same embedder, or export the store and import it "
            f"into a new one"
        )


#: Store meta: the LLM mode the store runs in (``openai``, ``local``, ``none``, ...).
LLM_MODE_KEY = "llm_mode"


def check_llm_mode(store: Store, provider: str, mode: str, *, record: bool = True) -> None:
    """A store never changes its LLM mode silently. The mode it ran in is kept in the store;
    opened with ``provider = "auto"`` resolving to another one (the endpoint variables unset,
    or newly set), it is a ConfigError that says how to choose. A provider named explicitly
    (``--llm none``, ``llm.provider = "openai"``) is that choice, and becomes the store's
    mode (with ``record``; ``lightmem doctor`` only looks)."""
    stored = store.get_meta(LLM_MODE_KEY)
    if stored is None and mode == "none" and _llm_calls(store):
        stored = "an LLM"  # a store from before the mode was kept: it has called one
    if stored is None or stored == mode or provider != "auto":
        if record and stored != mode:
            store.set_meta(LLM_MODE_KEY, mode)
        return
    if mode == "none" and stored == "local":  # no endpoint to configure: a provider to name
        raise ConfigError(
            "this store was built in local mode (the in-process model), but llm.provider "
            "is 'auto' now, which finds no endpoint and would run it in no-LLM mode. Name "
            "the provider: `lightmem --llm local ...`, LIGHTMEM_LLM__PROVIDER=local, or "
            'llm.provider = "local" in the config; or `--llm none` to switch to no-LLM mode'
        )
    if mode == "none":
        raise ConfigError(
            f"this store was built in {_mode(stored)} (LLM extraction), but no LLM endpoint is "
            f"configured now, so it would run in no-LLM mode, and its turns would become raw "
            f"memories that are never extracted. Configure the endpoint it was built with "
            f"(OPENAI_BASE_URL and/or OPENAI_API_KEY, or llm.options.base_url), or choose "
            f"no-LLM mode explicitly: `lightmem --llm none ...`, LIGHTMEM_LLM__PROVIDER=none, "
            f'llm.provider = "none" in the config, or Memory(path, llm="none")'
        )
    raise ConfigError(
        f"this store was built in {_mode(stored)}, but the configuration now resolves "
        f'llm.provider "auto" to {_mode(mode)}. Choose the mode explicitly to switch: '
        f"`lightmem --llm {mode} ...`, LIGHTMEM_LLM__PROVIDER={mode}, or llm.provider = "
        f'"{mode}" in the config; or restore the setup it was built with'
    )


def _mode(mode: str) -> str:
    return "no-LLM mode" if mode == "none" else f"{mode} mode" if mode != "an LLM" else mode


def _llm_calls(store: Store) -> int:
    return sum(s.calls for s in store.usage().stages.values())


def save_config(config: MemoryConfig, path: Path) -> None:
    """Write the resolved config beside the store, atomically, secrets left out."""
    text = json.dumps(public_config(config), indent=2) + "\n"
    target = path / CONFIG_FILE
    try:
        if target.is_file() and target.read_text(encoding="utf-8") == text:
            return
        # Atomic: a process opening the store meanwhile never reads a half-written file.
        tmp = target.with_name(f".{CONFIG_FILE}.{os.getpid()}.{threading.get_ident()}")
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except OSError as exc:
        raise StorageError(
            f"cannot write the store's config file {str(target)!r}: {exc.strerror or exc}"
        ) from exc


def public_config(config: MemoryConfig) -> dict[str, Any]:
    """The config as saved: no secrets, and not how this process runs (``worker``)."""
    data = config.dump()
    data.pop("worker", None)
    for section in data.values():
        if isinstance(section, dict) and isinstance(section.get("options"), dict):
            for key in list(section["options"]):
                if key in _SECRET_KEYS:
                    del section["options"][key]
    return data
