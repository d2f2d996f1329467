"""Text embedders: local MiniLM (onnxruntime), OpenAI-compatible, deterministic hashing."""

from lightmem.embedders.base import Embedder

__all__ = ["Embedder"]
