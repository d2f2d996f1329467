"""The bench's upstream: an OpenAI-compatible chat endpoint that answers at once with the
reply the replay set (the conversation's own next turn), served in-process."""

from __future__ import annotations

from typing import Any


class ScriptedUpstream:
    """``reply`` is what the next chat completion says; ``app()`` is the ASGI app."""

    def __init__(self) -> None:
        self.reply = ""
        self.requests = 0

    def app(self) -> Any:
        from starlette.applications import Starlette
        from starlette.requests import Request
        from starlette.responses import JSONResponse
        from starlette.routing import Route

        async def chat(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests += 1
            return JSONResponse(completion(self.reply, str(body.get("model", "bench"))))

        async def models(request: Request) -> JSONResponse:
            return JSONResponse({"object": "list", "data": [{"id": "bench", "object": "model"}]})

        return Starlette(
            routes=[
                Route("/v1/chat/completions", chat, methods=["POST"]),
                Route("/v1/models", models, methods=["GET"]),
            ]
        )


def completion(text: str, model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
        ],
    }
