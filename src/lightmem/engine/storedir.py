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
