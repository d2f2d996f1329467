"""The OpenAI-compatible routes: ``POST /v1/chat/completions`` (streamed or not),
``GET /v1/models`` (passed through) and ``GET /v1/health``.

A chat completion: authenticate the LightMem key, choose the user within its scopes, build
the upstream messages (:mod:`.injection`), forward them while the user's turn is recorded,
relay the answer (event-stream chunks as they arrive), then record the reply. Store work
runs in worker threads, off the event loop.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from lightmem.access import Principal
from lightmem.config import ProxySection
from lightmem.memory import Memory
from lightmem.server.auth import authenticate, bearer_token
from lightmem.server.keys import KeyStore
from lightmem.server.proxy import injection
from lightmem.server.proxy.block import Counter
from lightmem.server.proxy.injection import Plan
from lightmem.server.proxy.recorder import Recorder, StreamText, reply_text
from lightmem.server.proxy.requests import chosen_user, parse_chat, session_of
from lightmem.server.proxy.upstream import (
    Upstream,
    UpstreamError,
    event_stream,
    json_object,
)
from lightmem.server.proxy.warmup import Warmer
from lightmem.tokens import TokenCounts

log = logging.getLogger("lightmem.server.proxy")
router = APIRouter()


@dataclass(slots=True)
class ProxyState:
    memory: Memory
    keys: KeyStore | None
    anonymous_until_keys: bool
    settings: ProxySection
    upstream: Upstream
    warmer: Warmer
    #: token counts of the messages apps resend with every request
    counts: TokenCounts = field(default_factory=TokenCounts)

    def caller(self, headers: Mapping[str, str]) -> Principal:
        token = bearer_token(headers.get("authorization"))
        return authenticate(self.keys, token, anonymous_until_keys=self.anonymous_until_keys)


@dataclass(slots=True)
class Exchange:
    """One request on its way: what goes upstream, where turns are recorded."""

    plan: Plan
    recorder: Recorder
    recorded: list[str]
    warmer: Warmer
    counts: Counter

    def settle(self, messages: list[dict[str, Any]], key: str | None, raw: bytes) -> list[str]:
        """What is done while the upstream answers (in a thread): the user's turn recorded
        (once per request: ``key``, else the body ``raw``), then the tokens counted."""
        recorded = self.recorder.user(messages, key, raw)
        self.plan.account(self.counts)
        return recorded

    def headers(self) -> dict[str, str]:
        return self.plan.headers(self.recorder.session)

    async def reply(self, text: str) -> None:
        """Record the reply (in a thread), then queue the user's index warm-up."""
        self.recorded += await run_in_threadpool(self.recorder.reply, text)
        self.warmer.after_write(self.recorder.scope.owner)


def _state(request: Request) -> ProxyState:
    state: ProxyState = request.app.state.proxy
    return state


def begin(
    state: ProxyState, caller: Principal, headers: Mapping[str, str], body: dict[str, Any]
) -> Exchange:
    """Choose the scope and plan the upstream messages (in a thread)."""
    view = state.memory.as_actor(caller)
    scope = view.where(user_id=chosen_user(body, headers, caller), need="write")
    recorder = Recorder(view, scope, session_of(headers, caller))
    plan = injection.plan(view, scope, body["messages"], state.settings, state.counts)
    return Exchange(plan, recorder, [], state.warmer, state.counts)


async def forward(
    state: ProxyState, exchange: Exchange, body: dict[str, Any], key: str | None, raw: bytes
) -> httpx.Response:
    """Send the request upstream while the user's turn is recorded and the tokens counted
    (in a thread, :meth:`Exchange.settle`): both are done before anything is answered, and
    a failing upstream still leaves the turn kept."""
    record = asyncio.ensure_future(run_in_threadpool(exchange.settle, body["messages"], key, raw))
    payload = {**body, "messages": exchange.plan.messages}
    try:
        answer = await state.upstream.post(
            "/chat/completions", payload, stream=bool(body.get("stream"))
        )
    except BaseException:
        exchange.recorded = await record
        raise
    try:
        exchange.recorded = await record
    except BaseException:
        await answer.aclose()
        raise
    return answer


@router.get("/v1/health", include_in_schema=False)
async def health() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/v1/models")
async def models(request: Request) -> Response:
    state = _state(request)
    await run_in_threadpool(state.caller, request.headers)
    answer = await state.upstream.get("/models")
    return Response(answer.content, answer.status_code, media_type="application/json")


@router.post("/v1/chat/completions")
async def chat_completions(request: Request) -> Response:
    state = _state(request)
    caller = await run_in_threadpool(state.caller, request.headers)  # 401 before anything
    raw = await request.body()
    body = parse_chat(raw)
    exchange = await run_in_threadpool(begin, state, caller, request.headers, body)
    try:
        return await answer_with(state, exchange, body, request.headers, raw)
    except UpstreamError as exc:
        exc.session = exchange.recorder.session  # the user's turn is kept there: say where
        raise


async def answer_with(
    state: ProxyState,
    exchange: Exchange,
    body: dict[str, Any],
    headers: Mapping[str, str],
    raw: bytes,
) -> Response:
    """Forward the request and answer with the upstream's reply, relayed or whole."""
    answer = await forward(state, exchange, body, headers.get("idempotency-key"), raw)
    if body.get("stream"):
        answer = await event_stream(answer, "a streamed chat completion")
        return StreamingResponse(
            relay(state.upstream, exchange, answer),
            media_type=answer.headers.get("content-type", "text/event-stream"),
            headers=exchange.headers(),
        )
    reply = json_object(answer, "a chat completion")
    await exchange.reply(reply_text(reply))
    reply["lightmem"] = exchange.plan.report(exchange.recorder.session, exchange.recorded)
    return JSONResponse(reply, headers=exchange.headers())


async def relay(
    upstream: Upstream, exchange: Exchange, answer: httpx.Response
) -> AsyncIterator[bytes]:
    """The upstream's chunks as they arrive. The reply is recorded once the stream is whole,
    before its last event goes out (a client stops reading at ``[DONE]``). A stream that
    breaks, or ends before the reply is complete (no ``finish_reason``, no ``[DONE]``), ends
    with an error event (OpenAI clients raise it), and no reply is recorded."""
    text = StreamText()
    recorded = False
    try:
        async for chunk in answer.aiter_bytes():
            text.feed(chunk)
            if text.done and not recorded and text.error is None:
                recorded = True
                await exchange.reply(text.text)
            yield chunk
    except httpx.TransportError as exc:
        failure = upstream.failure(exc, streaming=True)
        log.warning("upstream stream broke: %s", failure.code)
        yield error_event(failure)
        return
    finally:
        await answer.aclose()
    if recorded or text.error is not None:
        return
    if text.complete:  # an upstream that sends no [DONE]
        await exchange.reply(text.text)
    else:
        log.warning("upstream stream ended early")
        yield error_event(upstream.cut_short())


def error_event(failure: UpstreamError) -> bytes:
    error = {"message": str(failure), "type": "server_error", "param": None, "code": failure.code}
    return b"data: " + json.dumps({"error": error}).encode() + b"\n\n"
