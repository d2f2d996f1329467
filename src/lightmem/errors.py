"""The exception tree. Every error LightMem raises derives from :class:`LightMemError`.

The library raises and never prints; the CLI (and later REST/MCP layers) translate these
errors into messages in exactly one place each.
"""

from __future__ import annotations


class LightMemError(Exception):
    """Root of every error raised by LightMem."""


class ConfigError(LightMemError):
    """The configuration is invalid: a misspelled key, a wrong type, an unknown provider."""


class InputError(LightMemError, ValueError):
    """A caller handed us something we cannot accept (bad message, bad timestamp, bad file)."""


class ProviderError(LightMemError):
    """A backend (LLM endpoint, embedder, local model) failed or is not installed."""


class UnreachableError(ProviderError):
    """A backend's endpoint could not be reached: the connection was refused or timed out,
    so nothing answered (the request may be tried again later unchanged)."""


class MissingDependencyError(ProviderError):
    """An optional dependency is not installed; the message names the install command."""

    def __init__(self, package: str, extra: str | None = None, hint: str | None = None) -> None:
        cmd = f"pip install 'lightmem[{extra}]'" if extra else f"pip install {package}"
        msg = f"the package {package!r} is not installed; install it with: {cmd}"
        if hint:
            msg += f" ({hint})"
        super().__init__(msg)
        self.package = package
        self.extra = extra


class ExtractionError(LightMemError):
    """Structured output could not be obtained from the LLM after all retries.

    Carries the last raw completion, the number of attempts and the token usage, so nothing
    the model said is lost.
    """

    def __init__(
        self,
        message: str,
        *,
        raw: str | None = None,
        attempts: int = 0,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> None:
        super().__init__(message)
        self.raw = raw
        self.attempts = attempts
        self.tokens_in = tokens_in
        self.tokens_out = tokens_out


class NotFoundError(LightMemError, KeyError):
    """No memory, turn or store with that id (in the caller's scope)."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0]) if self.args else "not found"


class StorageError(LightMemError):
    """The store cannot be opened, read or written (locked, read-only, disk full, corrupt)."""


class ConflictError(StorageError):
    """Another worker changed the same state first (a batch already completed, turns already
    segmented). The caller re-reads and carries on; nothing is lost."""


class AccessDeniedError(LightMemError):
    """The scope acting may not read or write that pool (no grant, or not enough of one)."""
