"""The ``none`` backend: no LLM configured. The pipeline checks ``available`` and runs in
no-LLM mode (raw turns are stored and searched); calling it anyway is a loud error."""

from __future__ import annotations

from typing import Any, ClassVar

from lightmem.errors import ProviderError
from lightmem.llm.base import LLM, ChatMessage, Completion


class NoLLM(LLM):
    mode: ClassVar[str] = "none"
    available: ClassVar[bool] = False

    @property
    def model_name(self) -> str:
        return "none"

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        raise ProviderError(
            "no LLM configured (llm provider 'none'); configure an OpenAI-compatible endpoint "
            "or the local model to extract memories"
        )
