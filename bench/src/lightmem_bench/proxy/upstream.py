"""The bench's upstream: an OpenAI-compatible chat endpoint that answers at once with the
reply the replay set (the conversation's own next turn), in a process of its own, as a
model server is: served in the bench's process, its work (reading each request's JSON)
took the interpreter from the proxy under measurement while it answered.

``python -m lightmem_bench.proxy.upstream PORT`` serves it on 127.0.0.1; ``PUT
/bench/reply`` (the text as the body) sets what the next completions say."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any, Self

import httpx

from lightmem.server.threaded import free_port


class ScriptedUpstream:
    """``reply`` is what the next chat completion says; ``app()`` is the ASGI app."""

    def __init__(self) -> None:
        self.reply = ""
        self.requests = 0

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse, Response
        from starlette.routing import Route

        async def chat(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests += 1
            return JSONResponse(completion(self.reply, str(body.get("model", "bench"))))

        async def models(request: Request) -> JSONResponse:
            return JSONResponse({"object": "list", "data": [{"id": "bench", "object": "model"}]})

        async def set_reply(request: Request) -> Response:
            self.reply = (await request.body()).decode()
            return Response(status_code=204)

        return Starlette(
            routes=[
                Route("/v1/chat/completions", chat, methods=["POST"]),
                Route("/v1/models", models, methods=["GET"]),
                Route("/bench/reply", set_reply, methods=["PUT"]),
            ]
        )


class UpstreamProcess:
    """The scripted upstream in a child process: ``url``, and ``say(text)`` to script it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None
        self._http = httpx.Client(timeout=10)

    def __enter__(self) -> Self:
        command = [sys.executable, "-m", "lightmem_bench.proxy.upstream", str(self.port)]
        self._proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            try:
                self._http.get(self.url + "/v1/models").raise_for_status()
                return self
            except httpx.HTTPError:
                if time.monotonic() > deadline or self._proc.poll() is not None:
                    self.__exit__()
                    raise RuntimeError(f"the bench upstream did not start on {self.url}") from None
                time.sleep(0.05)

    def say(self, text: str) -> None:
        self._http.put(self.url + "/bench/reply", content=text.encode()).raise_for_status()

    def __exit__(self, *exc: object) -> None:
        self._http.close()
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None


def completion(text: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
    }


def main(argv: list[str]) -> None:
    import uvicorn

    port = int(argv[0])
    uvicorn.run(ScriptedUpstream().app(), host="127.0.0.1", port=port, log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
