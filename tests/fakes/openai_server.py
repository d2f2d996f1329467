"""A tiny real OpenAI-compatible HTTP server for offline tests.

It listens on ``127.0.0.1`` (a free port) in a background thread and serves

* ``POST /v1/chat/completions``: replies popped from a queue (:meth:`FakeOpenAIServer.reply`,
  :meth:`FakeOpenAIServer.error`, :meth:`FakeOpenAIServer.enqueue`); when the queue is empty
  it asks ``chat_responder`` if one is set, else answers a loud HTTP 418.
  A request with ``"stream": true`` gets a successful completion as server-sent events
  (chunked, a few words a chunk, ``chunk_delay`` seconds apart, then ``data: [DONE]``);
  ``break_after=n`` drops the connection after n chunks; ``close_after=n`` sends the events
  unchunked and closes the connection cleanly after n of them (the body just ends, with no
  ``finish_reason`` and no ``[DONE]``); a scripted answer with its own
  ``Content-Type`` header is sent as it is (an upstream that ignores ``stream``).
* ``POST /v1/embeddings``: its own queue first (to script errors), else deterministic vectors
  from a hash of each input (:func:`fake_embedding`; dimension ``embedding_dim`` or the
  request's ``dimensions``; ``encoding_format="base64"`` supported).

Every request is recorded (method, path, headers, parsed JSON body) in ``requests``.

    with FakeOpenAIServer() as server:
        server.reply('{"facts": []}', usage=(12, 3))
        server.error(429, "slow down", headers={"Retry-After": "0"})
        llm = OpenAILLM(OpenAIOptions(base_url=server.base_url, api_key="sk-test"))
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import struct
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"
Endpoint = Literal["chat", "embeddings"]


@dataclass
class FakeResponse:
    """One scripted answer. ``body`` is JSON-encoded unless it is ``str``/``bytes``."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (to provoke client timeouts)
    chunk_delay: float = 0.0  # a stream: seconds between two chunks
    break_after: int | None = None  # a stream: drop the connection after this many chunks
    close_after: int | None = None  # a stream: end the body (unchunked) after this many events


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # keys lower-cased
    body: Any  # parsed JSON, or None if the body was not JSON
    raw: bytes


def chat_body(
    content: str | None, *, model: str = "fake-model", usage: tuple[int, int] | None = (10, 5)
) -> dict[str, Any]:
    """An OpenAI chat-completion response body; ``usage`` is (prompt, completion) tokens."""
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }
    if usage is not None:
        body["usage"] = {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        }
    return body


def chat_chunks(body: dict[str, Any], words_per_chunk: int = 2) -> list[dict[str, Any]]:
    """A chat completion as the stream of ``chat.completion.chunk`` events that carries it."""
    content = body["choices"][0]["message"]["content"] or ""
    words = content.split(" ")
    pieces = [
        " ".join(words[i : i + words_per_chunk]) + (" " if i + words_per_chunk < len(words) else "")
        for i in range(0, len(words), words_per_chunk)
    ]
    base = {"id": body["id"], "object": "chat.completion.chunk", "model": body["model"]}
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"content": p} for p in pieces]
    chunks = [
        {**base, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas
    ]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    return chunks


def error_body(message: str, *, kind: str = "invalid_request_error") -> dict[str, Any]:
    """An OpenAI-shaped error body."""
    return {"error": {"message": message, "type": kind, "code": None}}


def fake_embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector for ``text`` (the same on every run and machine)."""
    values: list[float] = []
    counter = 0
    while len(values) < dim:
        digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
        values.extend((b - 127.5) / 127.5 for b in digest)
        counter += 1
    values = values[:dim]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


class FakeOpenAIServer:
    """A scripted OpenAI-compatible server; use as a context manager or start()/stop()."""

    def __init__(self, *, embedding_dim: int = 8, model: str = "fake-model") -> None:
        self.embedding_dim = embedding_dim
        self.model = model
        #: Called with the request body when the chat queue is empty; returns the reply text
        #: or a FakeResponse. None: an empty queue answers HTTP 418.
        self.chat_responder: Callable[[dict[str, Any]], str | FakeResponse] | None = None
        self.requests: list[RecordedRequest] = []
        self._queues: dict[str, deque[FakeResponse]] = {"chat": deque(), "embeddings": deque()}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------

    def start(self) -> Self:
        self._stopping.clear()
        handler = _make_handler(self)
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # wakes handlers sleeping on a scripted delay
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1``, what a client takes as its base URL."""
        if self._httpd is None:
            raise RuntimeError("the fake server is not started")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    # --- scripting ---------------------------------------------------------------------

    def enqueue(self, *responses: FakeResponse, endpoint: Endpoint = "chat") -> Self:
        with self._lock:
            self._queues[endpoint].extend(responses)
        return self

    def reply(
        self,
        content: str | None,
        *,
        usage: tuple[int, int] | None = (10, 5),
        delay: float = 0.0,
        headers: dict[str, str] | None = None,
    ) -> Self:
        """Queue a successful chat completion whose message content is ``content``."""
        body = chat_body(content, model=self.model, usage=usage)
        return self.enqueue(FakeResponse(200, body, headers or {}, delay))

    def error(
        self,
        status: int,
        message: str = "error",
        *,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        endpoint: Endpoint = "chat",
    ) -> Self:
        """Queue an OpenAI-shaped error answer."""
        response = FakeResponse(status, error_body(message), headers or {}, delay)
        return self.enqueue(response, endpoint=endpoint)

    def pending(self, endpoint: Endpoint = "chat") -> int:
        with self._lock:
            return len(self._queues[endpoint])

    def requests_to(self, path: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return self.requests_to(CHAT_PATH)

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        return self.requests_to(EMBEDDINGS_PATH)

    # --- serving (called from handler threads) -------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next(self, endpoint: Endpoint) -> FakeResponse | None:
        with self._lock:
            queue = self._queues[endpoint]
            return queue.popleft() if queue else None

    def _answer(self, path: str, body: Any) -> FakeResponse:
        if path == CHAT_PATH:
            scripted = self._next("chat")
            if scripted is not None:
                return scripted
            if self.chat_responder is not None:
                out = self.chat_responder(body)
                return out if isinstance(out, FakeResponse) else FakeResponse(200, chat_body(out))
            return FakeResponse(418, error_body("fake server: the chat completion queue is empty"))
        if path == EMBEDDINGS_PATH:
            scripted = self._next("embeddings")
            return scripted if scripted is not None else self._embeddings(body)
        return FakeResponse(404, error_body(f"fake server: no route {path}"))

    def _embeddings(self, body: Any) -> FakeResponse:
        if not isinstance(body, dict) or "input" not in body:
            return FakeResponse(400, error_body("'input' is required"))
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if not all(isinstance(t, str) for t in inputs):
            return FakeResponse(400, error_body("fake server: 'input' must be strings"))
        dim = int(body.get("dimensions") or self.embedding_dim)
        as_base64 = body.get("encoding_format") == "base64"
        data = []
        for i, text in enumerate(inputs):
            vector = fake_embedding(text, dim)
            encoded: Any = vector
            if as_base64:
                encoded = base64.b64encode(struct.pack(f"<{dim}f", *vector)).decode()
            data.append({"object": "embedding", "index": i, "embedding": encoded})
        tokens = sum(len(t.split()) for t in inputs)
        return FakeResponse(
            200,
            {
                "object": "list",
                "data": data,
                "model": body.get("model", self.model),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


def _make_handler(server: FakeOpenAIServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body: Any = json.loads(raw) if raw else None
            except ValueError:
                body = None
            path = self.path.split("?", 1)[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            server._record(RecordedRequest("POST", path, headers, body, raw))
            answer = server._answer(path, body)
            streamed = isinstance(body, dict) and body.get("stream") is True
            typed = any(k.lower() == "content-type" for k in answer.headers)
            if streamed and answer.status == 200 and isinstance(answer.body, dict) and not typed:
                self._stream(answer)
            else:
                self._send(answer)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            headers = {k.lower(): v for k, v in self.headers.items()}
            server._record(RecordedRequest("GET", path, headers, None, b""))
            if path == "/v1/models":
                data = [{"id": server.model, "object": "model", "owned_by": "fake"}]
                self._send(FakeResponse(200, {"object": "list", "data": data}))
            else:
                self._send(FakeResponse(404, error_body(f"fake server: no route {path}")))

        def _send(self, response: FakeResponse) -> None:
            if response.delay and server._stopping.wait(response.delay):
                return
            body = response.body
            if isinstance(body, bytes):
                payload, ctype = body, "application/octet-stream"
            elif isinstance(body, str):
                payload, ctype = body.encode(), "text/plain; charset=utf-8"
            else:
                payload, ctype = json.dumps(body).encode(), "application/json"
            try:
                self.send_response(response.status)
                if not any(k.lower() == "content-type" for k in response.headers):
                    self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test); nothing to answer

        def _stream(self, response: FakeResponse) -> None:
            """The completion as server-sent events, one HTTP chunk each."""
            if response.delay and server._stopping.wait(response.delay):
                return
            events = [f"data: {json.dumps(c)}\n\n" for c in chat_chunks(response.body)]
            events.append("data: [DONE]\n\n")
            try:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                if response.close_after is not None:  # the body ends where the connection does
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write("".join(events[: response.close_after]).encode())
                    self.close_connection = True
                    return
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for n, event in enumerate(events):
                    if n == response.break_after:
                        self.close_connection = True
                        return  # no closing chunk: the client sees a broken stream
                    if n and response.chunk_delay and server._stopping.wait(response.chunk_delay):
                        return
                    data = event.encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep test output clean

    return Handler
