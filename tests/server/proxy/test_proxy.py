"""The official ``openai`` client through the proxy to the fake OpenAI server: what the
upstream receives (the app's system message, the injected memory block, the trimmed
history), what the client gets back, and what is recorded."""

from __future__ import annotations

import time

import openai
import pytest

from lightmem import Memory
from tests.server.conftest import Tenants, seed
from tests.server.proxy.conftest import UPSTREAM_KEY, MakeProxy, Proxy

APP_PROMPT = {"role": "system", "content": "You are a friendly assistant."}


def ask(text: str) -> list[dict[str, str]]:
    return [APP_PROMPT, {"role": "user", "content": text}]


def test_a_completion_gets_the_users_memories_and_is_recorded(
    proxy: Proxy, memory: Memory, tenants: Tenants
) -> None:
    seed(memory, "alice", ["alice plays the cello in the city orchestra"])
    proxy.upstream.reply("You play the cello.")
    raw = proxy.client(tenants.alice).chat.completions.with_raw_response.create(
        model="fake-model", messages=ask("Which instrument does alice play in the orchestra?")
    )
    reply = raw.parse()
    assert reply.choices[0].message.content == "You play the cello."
    sent = proxy.upstream_messages()
    assert sent[0] == APP_PROMPT and sent[-1]["role"] == "user"
    injected = sent[1]
    assert injected["role"] == "system" and "cello" in injected["content"]
    assert injected["content"].startswith("Long-term memory about the user")
    report = (reply.model_extra or {})["lightmem"]
    assert report["injected_tokens"] > 0 and report["memories"]
    assert raw.headers["x-lightmem-injected-tokens"] == str(report["injected_tokens"])
    assert raw.headers["x-lightmem-stable-hash"] == report["stable_hash"]
    metrics = [m.strip().split(";dur=") for m in raw.headers["server-timing"].split(",")]
    timing = {name: float(ms) for name, ms in metrics}
    assert set(timing) == {"lightmem-block", "lightmem-embed"}
    assert 0 < timing["lightmem-embed"] <= timing["lightmem-block"]
    assert proxy.session_turns("alice", "proxy-alice") == [
        ("user", "Which instrument does alice play in the orchestra?"),
        ("assistant", "You play the cello."),
    ]
    assert len(report["recorded"]) == 2


def test_the_upstream_gets_the_proxys_key_never_the_clients(proxy: Proxy, tenants: Tenants) -> None:
    proxy.upstream.reply("hi")
    proxy.client(tenants.alice).chat.completions.create(model="m", messages=ask("hello"))
    headers = proxy.upstream.chat_requests[0].headers
    assert headers["authorization"] == f"Bearer {UPSTREAM_KEY}"
    assert tenants.alice not in str(proxy.upstream.chat_requests[0])


def test_a_stream_passes_through_and_its_reply_is_recorded(
    proxy: Proxy, memory: Memory, tenants: Tenants
) -> None:
    seed(memory, "alice", ["alice keeps bees on her roof in Lisbon"])
    proxy.upstream.reply("Your bees live on the roof in Lisbon.")
    stream = proxy.client(tenants.alice).chat.completions.create(
        model="fake-model",
        messages=ask("Where does alice keep her bees?"),
        stream=True,
        extra_headers={"X-LightMem-Session": "s-stream"},
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Your bees live on the roof in Lisbon."
    assert proxy.upstream.chat_requests[0].body["stream"] is True
    assert "bees" in proxy.upstream_messages()[1]["content"]
    assert proxy.session_turns("alice", "s-stream") == [
        ("user", "Where does alice keep her bees?"),
        ("assistant", text),
    ]


def test_stream_chunks_arrive_as_the_upstream_sends_them(proxy: Proxy, tenants: Tenants) -> None:
    from tests.fakes.openai_server import FakeResponse, chat_body

    proxy.upstream.enqueue(FakeResponse(200, chat_body("a b c d e f g h"), chunk_delay=0.4))
    stream = proxy.client(tenants.alice).chat.completions.create(
        model="m", messages=ask("count"), stream=True
    )
    seen = [time.monotonic() for chunk in stream if chunk.choices and chunk.choices[0].delta]
    assert seen[-1] - seen[0] > 1.0  # 4 content chunks 0.4 s apart: not buffered


def test_only_the_last_turns_go_upstream(make_proxy: MakeProxy, tenants: Tenants) -> None:
    proxy = make_proxy(history_turns=2)
    history = [APP_PROMPT]
    for n in range(3):
        history += [
            {"role": "user", "content": f"question number {n} about gardening"},
            {"role": "assistant", "content": f"answer number {n} about tomatoes"},
        ]
    history.append({"role": "user", "content": "and the last question?"})
    proxy.upstream.reply("ok")
    reply = proxy.client(tenants.alice).chat.completions.create(model="m", messages=history)
    sent = proxy.upstream_messages()
    assert sent[0] == APP_PROMPT
    assert [m["content"] for m in sent if m["role"] != "system"] == [
        "answer number 2 about tomatoes",
        "and the last question?",
    ]
    report = (reply.model_extra or {})["lightmem"]
    assert report["trimmed_tokens"] > 0
    assert report["saved_tokens"] == report["trimmed_tokens"] - report["injected_tokens"]


def test_the_stable_part_stays_byte_identical_until_sleep_time(
    proxy: Proxy, memory: Memory, tenants: Tenants
) -> None:
    ids = seed(memory, "alice", ["alice is allergic to peanuts", "alice drives a red tram"])
    memory.pin(ids[0])
    client = proxy.client(tenants.alice)
    blocks, hashes = [], []
    for question in ("what car do I drive?", "what should I not eat?", "what car do I drive?"):
        proxy.upstream.reply("noted")
        raw = client.chat.completions.with_raw_response.create(model="m", messages=ask(question))
        blocks.append(proxy.upstream_messages()[1]["content"])
        hashes.append(raw.headers["x-lightmem-stable-hash"])
    stable = blocks[0].split("Relevant to this request:")[0]
    assert "allergic to peanuts" in stable  # the pinned memory leads
    assert all(b.startswith(stable) for b in blocks) and len(set(hashes)) == 1
    memory.wait()
    memory.consolidate(user_id="alice")  # sleep time: session summaries are built
    proxy.upstream.reply("noted")
    raw = client.chat.completions.with_raw_response.create(model="m", messages=ask("car?"))
    assert raw.headers["x-lightmem-stable-hash"] != hashes[0]
    assert "Earlier sessions" in proxy.upstream_messages()[1]["content"]


def test_an_idempotency_key_records_a_retried_turn_once(proxy: Proxy, tenants: Tenants) -> None:
    client = proxy.client(tenants.alice)

    def tell(text: str) -> None:
        proxy.upstream.reply("ok")
        client.chat.completions.create(
            model="m", messages=ask(text), extra_headers={"Idempotency-Key": "req-1"}
        )

    def users() -> list[tuple[str, str]]:
        return [t for t in proxy.session_turns("alice", "proxy-alice") if t[0] == "user"]

    tell("remember my locker is 42")
    tell("remember my locker is 42")
    assert users() == [("user", "remember my locker is 42")]
    with pytest.raises(openai.ConflictError, match="was used for another request"):
        tell("remember my locker is 43")
    assert users() == [("user", "remember my locker is 42")]


def test_models_are_passed_through(proxy: Proxy, tenants: Tenants) -> None:
    models = proxy.client(tenants.alice).models.list()
    assert [m.id for m in models.data] == ["fake-model"]
    assert proxy.upstream.requests[-1].headers["authorization"] == f"Bearer {UPSTREAM_KEY}"


def test_without_memories_nothing_is_injected(proxy: Proxy, tenants: Tenants) -> None:
    proxy.upstream.reply("hello")
    reply = proxy.client(tenants.bob).chat.completions.create(model="m", messages=ask("hi"))
    assert proxy.upstream_messages() == ask("hi")
    assert (reply.model_extra or {})["lightmem"]["injected_tokens"] == 0
