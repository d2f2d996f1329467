"""The shared JSON POST helper: retries, Retry-After, backoff and error translation."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import pytest

from lightmem.errors import ProviderError, UnreachableError
from lightmem.http import (
    EndpointError,
    check_base_url,
    post_json,
    retry_after_seconds,
    server_message,
)
from tests.fakes.openai_server import FakeOpenAIServer, FakeResponse

URL = "https://api.example.test/v1/embeddings"
KEY = "sk-very-secret-key-0123456789"

Answer = httpx.Response | Exception


class Script:
    """An httpx transport that replays answers in order and records requests and sleeps."""

    def __init__(self, *answers: Answer) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.answers:
            raise AssertionError("the script ran dry")
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def post(self, url: str = URL, **kwargs: object) -> dict[str, object]:
        client = httpx.Client(transport=httpx.MockTransport(self.handler))
        options: dict[str, object] = {"sleep": self.sleeps.append, "backoff": 1.0}
        options.update(kwargs)
        return post_json(client, url, {"input": ["a"]}, **options)  # type: ignore[arg-type]


def ok(body: object = None) -> httpx.Response:
    return httpx.Response(200, json={"ok": True} if body is None else body)


def err(status: int, message: str = "boom", **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message}}, headers=headers)


def test_success_sends_json_and_headers() -> None:
    script = Script(ok({"data": [1]}))
    assert script.post(headers={"Authorization": f"Bearer {KEY}"}) == {"data": [1]}
    (request,) = script.requests
    assert request.method == "POST"
    assert json.loads(request.content) == {"input": ["a"]}
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert script.sleeps == []


def test_timeout_is_passed_per_request() -> None:
    script = Script(ok())
    script.post(timeout=7.5)
    assert script.requests[0].extensions["timeout"]["read"] == 7.5


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_retryable_status_then_success(status: int) -> None:
    script = Script(err(status), ok())
    assert script.post() == {"ok": True}
    assert len(script.requests) == 2 and len(script.sleeps) == 1


def test_retry_after_seconds_is_honoured_exactly() -> None:
    script = Script(err(429, "slow down", **{"Retry-After": "3"}), ok())
    script.post()
    assert script.sleeps == [3.0]


def test_retry_after_is_capped_by_max_wait() -> None:
    script = Script(err(503, **{"Retry-After": "3600"}), ok())
    script.post(max_wait=5.0)
    assert script.sleeps == [5.0]


def test_exponential_backoff_with_jitter() -> None:
    script = Script(err(500), err(500), err(500), ok())
    script.post(backoff=2.0, max_retries=3)
    for n, slept in enumerate(script.sleeps):
        assert 2.0 * 2**n * 0.5 <= slept <= 2.0 * 2**n
    assert len(script.sleeps) == 3


def test_retries_exhausted_raise_with_status_and_server_message() -> None:
    script = Script(*[err(503, "overloaded, try later")] * 3)
    with pytest.raises(EndpointError) as info:
        script.post(max_retries=2)
    assert isinstance(info.value, ProviderError)
    assert info.value.status == 503
    assert info.value.server_message == "overloaded, try later"
    assert "HTTP 503 after 3 attempt(s): overloaded, try later" in str(info.value)
    assert len(script.requests) == 3 and len(script.sleeps) == 2


def test_max_retries_zero_means_one_attempt() -> None:
    script = Script(err(500))
    with pytest.raises(EndpointError):
        script.post(max_retries=0)
    assert len(script.requests) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(status: int) -> None:
    script = Script(err(status, "bad input"))
    with pytest.raises(EndpointError, match=rf"HTTP {status}: bad input") as info:
        script.post()
    assert info.value.status == status
    assert len(script.requests) == 1 and script.sleeps == []


def test_timeouts_and_connection_errors_are_retried() -> None:
    script = Script(httpx.ReadTimeout("timed out"), httpx.ConnectError("refused"), ok())
    assert script.post() == {"ok": True}
    assert len(script.sleeps) == 2


def test_timeouts_exhausted() -> None:
    script = Script(*[httpx.ReadTimeout("timed out")] * 3)
    with pytest.raises(UnreachableError, match=r"timed out waiting for the answer \(3 attempts\)"):
        script.post(max_retries=2)
    assert len(script.requests) == 3


def test_connection_errors_exhausted() -> None:
    script = Script(httpx.ConnectError("[Errno 111] Connection refused"))
    with pytest.raises(EndpointError, match=r"connection refused \(1 attempt\)") as info:
        script.post(max_retries=0)
    assert info.value.status is None and isinstance(info.value, UnreachableError)


@pytest.mark.parametrize(
    "failure", [httpx.ConnectError("[Errno 111] Connection refused"), httpx.ConnectTimeout("")]
)
def test_an_endpoint_that_cannot_be_connected_to_is_tried_twice_not_five_times(
    failure: httpx.TransportError,
) -> None:
    """A refused connection is an endpoint that is not running: backing off for a minute
    per call (issue 19, finding 2) does not bring it back; the circuit and a flush do."""
    script = Script(*[failure] * 5)
    with pytest.raises(UnreachableError, match=r"\(2 attempts\)") as info:
        script.post(max_retries=4)
    assert len(script.requests) == 2 and len(script.sleeps) == 1
    assert "attempt 1 of" not in str(info.value)


def test_a_base_url_needs_a_scheme_and_a_host() -> None:
    assert check_base_url("http://localhost:11434/v1", "base_url")
    for bad in ("your_base_url", "localhost:8080/v1", "ftp://host/v1", "http://", ""):
        with pytest.raises(ValueError, match="needs http:// or https:// and a host"):
            check_base_url(bad, "OPENAI_BASE_URL")


def test_secrets_never_reach_the_message() -> None:
    echo = f"Incorrect API key provided: {KEY}. You passed Bearer {KEY}"
    script = Script(err(401, echo))
    with pytest.raises(EndpointError) as info:
        script.post(
            url=f"https://user:pw@api.example.test/v1/embeddings?key={KEY}",
            headers={"Authorization": f"Bearer {KEY}", "api-key": KEY},
        )
    text = str(info.value)
    assert KEY not in text and KEY not in info.value.server_message
    assert "pw" not in text and "?key" not in text
    assert "Incorrect API key provided: ***" in text
    assert "https://api.example.test/v1/embeddings" in text


def test_non_json_success_body_is_an_error() -> None:
    script = Script(httpx.Response(200, text="<html>proxy login</html>"))
    with pytest.raises(EndpointError, match="not JSON"):
        script.post()


def test_json_that_is_not_an_object_is_an_error() -> None:
    script = Script(ok([1, 2]))
    with pytest.raises(EndpointError, match="expected an object"):
        script.post()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: httpx.Response(400, json={"error": {"message": "m1"}}), "m1"),
        (lambda: httpx.Response(400, json={"error": "m2"}), "m2"),
        (lambda: httpx.Response(400, json={"message": "m3"}), "m3"),
        (lambda: httpx.Response(400, json={"detail": "m4"}), "m4"),
        (lambda: httpx.Response(400, json={"other": 1}), '{"other": 1}'),
        (lambda: httpx.Response(502, text="  Bad gateway\n"), "Bad gateway"),
        (lambda: httpx.Response(500, text="x" * 2000), "x" * 500),
    ],
)
def test_server_message_shapes(make: Callable[[], httpx.Response], expected: str) -> None:
    assert server_message(make()) == expected


def test_empty_error_body_falls_back_to_reason_phrase() -> None:
    script = Script(httpx.Response(404))
    with pytest.raises(EndpointError, match="HTTP 404: Not Found"):
        script.post()


def test_retry_after_parsing() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("2.5") == 2.5
    assert retry_after_seconds("-4") == 0.0
    assert retry_after_seconds("Wed, 01 Jan 2025 12:00:30 GMT", now=now) == 30.0
    assert retry_after_seconds("Wed, 01 Jan 2025 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None


def test_real_timeout_against_a_local_server(openai_server: FakeOpenAIServer) -> None:
    slow = FakeResponse(200, {"late": True}, delay=2.0)
    openai_server.enqueue(slow, endpoint="embeddings")
    sleeps: list[float] = []
    with httpx.Client() as client:
        body = post_json(
            client,
            f"{openai_server.base_url}/embeddings",
            {"input": ["x"]},
            timeout=0.2,
            backoff=0.0,
            sleep=sleeps.append,
        )
    assert body["data"]  # the second attempt got the default answer
    assert len(openai_server.embedding_requests) == 2 and sleeps == [0.0]
