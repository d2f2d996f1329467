"""LLM backends: OpenAI-compatible endpoints, a local GGUF model, a scripted test LLM, none."""

from lightmem.llm.base import LLM, ChatMessage, Completion

__all__ = ["LLM", "ChatMessage", "Completion"]
