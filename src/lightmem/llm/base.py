"""The LLM interface. Every backend returns text plus token usage; structured output goes
through :mod:`lightmem.llm.structured`, never through backend-specific parsing."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    tokens_in: int
    tokens_out: int
    seconds: float
    model: str = ""


class LLMOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LLM(ABC):
    """A chat-completion backend.

    ``complete`` takes an optional JSON schema; a backend that can constrain its output to
    the schema (JSON-schema response format, a grammar) does so, others ignore it and the
    structured-output path validates and retries.
    """

    Options: ClassVar[type[BaseModel]] = LLMOptions
    #: False only for the ``none`` backend: the pipeline then runs in no-LLM mode.
    available: ClassVar[bool] = True
    #: The mode name every surface reports (``openai``, ``local``, ...); plugins set theirs.
    mode: ClassVar[str] = "plugin"
    #: Set to offer this backend to ``provider = "auto"`` (highest priority wins, see
    #: :meth:`lightmem.registry.Registry.auto`); None: used only when named.
    auto_priority: ClassVar[int | None] = None

    @classmethod
    def auto_available(cls, options: Mapping[str, Any], environ: Mapping[str, str]) -> bool:
        """Whether ``auto`` may pick this backend with these options and environment."""
        return True

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options if options is not None else self.Options()

    @property
    def model_name(self) -> str:
        return str(getattr(self.options, "model", type(self).__name__))

    @property
    def caveat(self) -> str | None:
        """A warning every surface shows with the mode (a toy model says so), or None."""
        return None

    @abstractmethod
    def complete(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        """Return the model's reply. Raise :class:`ProviderError` on transport failure."""

    @property
    def context_tokens(self) -> int | None:
        """Tokens the model attends to (prompt plus reply), when the backend knows it."""
        return None

    def unreachable(self) -> str | None:
        """A quick check, without a completion, for an endpoint that cannot be reached at
        all (a refused connection, an unknown host): what failed, or None when it answers
        or the backend cannot tell."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources (HTTP clients, models)."""
