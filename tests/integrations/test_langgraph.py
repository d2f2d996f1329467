"""LightMemStore against the real ``langgraph``: a compiled graph with a fake chat model from
``langchain_core`` writes and reads it, and the ``BaseStore`` contract holds (put, get,
search with scores, filters, pages, namespaces, delete, TTL, ``index``), each item a keyed
memory in the scope its namespace names."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

import pytest

pytest.importorskip("langgraph")

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langgraph.graph import END, START, StateGraph
from langgraph.runtime import Runtime

from lightmem import Memory
from lightmem.errors import AccessDeniedError, InputError
from lightmem.integrations.langgraph import LightMemStore
from lightmem.keyed import keyed_id
from lightmem.types import Scope
from tests.support.memories import MakeMemory

NS = ("memories", "alice")


@pytest.fixture
def memory(make_memory: MakeMemory) -> Memory:
    return make_memory()


@pytest.fixture
def store(memory: Memory) -> LightMemStore:
    return LightMemStore(memory, user_at=1)


class Turn(TypedDict):
    user: str
    text: str
    reply: str


class Seen(BaseCallbackHandler):
    """What the chat model was sent (a real langchain callback)."""

    def __init__(self) -> None:
        self.prompts: list[str] = []

    def on_chat_model_start(
        self, serialized: dict[str, Any], messages: list[list[BaseMessage]], **kwargs: Any
    ) -> None:
        self.prompts += [str(m.content) for batch in messages for m in batch]


def test_a_compiled_graph_writes_and_reads_the_store(store: LightMemStore, memory: Memory) -> None:
    model = GenericFakeChatModel(messages=iter(["Noted.", "You are vegetarian."]))
    seen = Seen()

    def remember(state: Turn, runtime: Runtime) -> dict[str, Any]:
        if state["text"].startswith("remember:"):
            fact = state["text"].removeprefix("remember:").strip()
            runtime.store.put(("memories", state["user"]), f"fact-{len(fact)}", {"memory": fact})
        return {}

    def respond(state: Turn, runtime: Runtime) -> dict[str, Any]:
        found = runtime.store.search(("memories", state["user"]), query=state["text"], limit=3)
        notes = "\n".join(item.value["memory"] for item in found)
        prompt = [SystemMessage(f"Known about the user:\n{notes}"), HumanMessage(state["text"])]
        reply = model.invoke(prompt, config={"callbacks": [seen]})
        return {"reply": str(reply.content)}

    builder = StateGraph(Turn)
    builder.add_node("remember", remember)
    builder.add_node("respond", respond)
    builder.add_edge(START, "remember")
    builder.add_edge("remember", "respond")
    builder.add_edge("respond", END)
    graph = builder.compile(store=store)
    graph.invoke({"user": "alice", "text": "remember: I am vegetarian since 2019", "reply": ""})
    out = graph.invoke(
        {"user": "alice", "text": "what food should I order? vegetarian?", "reply": ""}
    )
    assert out["reply"] == "You are vegetarian."
    assert "I am vegetarian since 2019" in seen.prompts[-2]  # the second run's system prompt
    entries = memory.get_all(user_id="alice")
    assert [e.text for e in entries] == ["I am vegetarian since 2019"] and entries[0].keyed
    assert memory.get_all(user_id="bob") == []


def test_put_get_replace_delete(store: LightMemStore) -> None:
    store.put(NS, "k1", {"memory": "likes green tea", "n": 1})
    item = store.get(NS, "k1")
    assert item is not None and item.value == {"memory": "likes green tea", "n": 1}
    assert item.namespace == NS and item.key == "k1" and item.created_at.tzinfo is not None
    store.put(NS, "k1", {"memory": "likes black tea", "n": 2})
    again = store.get(NS, "k1")
    assert again is not None and again.value["memory"] == "likes black tea"
    assert again.created_at == item.created_at
    assert len(store.search(NS)) == 1
    store.delete(NS, "k1")
    assert store.get(NS, "k1") is None and store.search(NS) == []
    store.put(NS, "k1", {"memory": "back again"})  # a deleted key starts afresh
    assert store.get(NS, "k1").value == {"memory": "back again"}  # type: ignore[union-attr]


def test_search_is_scored_by_our_retrieval(store: LightMemStore) -> None:
    store.put(NS, "a", {"memory": "my sister Zoraida moved to Lisbon"})
    store.put(NS, "b", {"memory": "the dentist appointment is on Friday"})
    store.put(NS, "c", {"memory": "Zoraida works at the Lisbon aquarium"})
    hits = store.search(("memories",), query="where does Zoraida live, Lisbon?", limit=2)
    assert {h.key for h in hits} == {"a", "c"}
    assert hits[0].score == 1.0 and 0 < (hits[1].score or 0) <= 1.0
    assert store.search(NS, query="Zoraida Lisbon", limit=1, offset=1)[0].key in {"a", "c"}


def test_filters_and_pages(store: LightMemStore) -> None:
    for n in range(5):
        store.put(
            NS, f"k{n}", {"memory": f"note {n}", "n": n, "kind": "even" if n % 2 == 0 else "odd"}
        )
    assert [i.key for i in store.search(NS, filter={"kind": "odd"})] == ["k1", "k3"]
    assert [i.key for i in store.search(NS, filter={"n": {"$gte": 3}})] == ["k3", "k4"]
    assert [i.key for i in store.search(NS, filter={"n": {"$ne": 0, "$lt": 2}})] == ["k1"]
    assert [i.key for i in store.search(NS, limit=2, offset=1)] == ["k1", "k2"]
    assert store.search(("other",)) == []


def test_namespaces_are_listed_and_matched(store: LightMemStore) -> None:
    store.put(("memories", "alice"), "a", {"memory": "x"})
    store.put(("memories", "alice", "work"), "b", {"memory": "y"})
    store.put(("memories", "bob"), "c", {"memory": "z"})
    assert store.list_namespaces() == [
        ("memories", "alice"),
        ("memories", "alice", "work"),
        ("memories", "bob"),
    ]
    assert store.list_namespaces(prefix=("memories", "alice")) == [
        ("memories", "alice"),
        ("memories", "alice", "work"),
    ]
    assert store.list_namespaces(suffix=("work",)) == [("memories", "alice", "work")]
    assert store.list_namespaces(prefix=("*", "bob")) == [("memories", "bob")]
    assert store.list_namespaces(max_depth=1) == [("memories",)]
    assert store.list_namespaces(limit=1, offset=2) == [("memories", "bob")]
    # a keyed memory that other code wrote is not an item of the store
    store.view.put_keyed("profile", "alice likes jazz", data=None, user_id="alice")
    assert len(store.list_namespaces()) == 3 and len(store.search(("memories",))) == 3


def test_each_namespace_maps_to_its_users_scope(memory: Memory) -> None:
    app = LightMemStore(memory, user_at=1)
    app.put(("memories", "alice"), "k", {"memory": "alice's secret garden"})
    app.put(("memories", "bob"), "k", {"memory": "bob's hidden cellar"})
    assert [e.text for e in memory.get_all(user_id="bob")] == ["bob's hidden cellar"]
    assert memory.get(keyed_id(Scope("alice"), '["memories", "alice", "k"]')).scope == Scope(
        "alice"
    )
    alices = LightMemStore(memory, user_id="alice", user_at=1)
    assert alices.search(("memories",), query="secret cellar garden") != []
    assert all(i.namespace[1] == "alice" for i in alices.search(("memories",), query="cellar"))
    with pytest.raises(AccessDeniedError):
        alices.get(("memories", "bob"), "k")
    with pytest.raises(AccessDeniedError):
        alices.put(("memories", "bob"), "k2", {"memory": "written by alice"})
    assert len(memory.get_all(user_id="bob")) == 1


def test_a_store_bound_to_one_user_keeps_every_namespace_there(memory: Memory) -> None:
    store = LightMemStore(memory, user_id="carol")
    store.put(("prefs",), "tea", {"memory": "carol drinks rooibos"})
    store.put(("notes", "work"), "x", {"memory": "carol's desk is 4B"})
    assert len(memory.get_all(user_id="carol")) == 2
    assert store.list_namespaces() == [("notes", "work"), ("prefs",)]
    with pytest.raises(InputError, match="needs a scope"):
        LightMemStore(memory)
    with pytest.raises(InputError, match="user_at=3"):
        LightMemStore(memory, user_at=3).put(("a", "b"), "k", {"v": 1})


def test_index_false_is_kept_but_never_searched(store: LightMemStore, memory: Memory) -> None:
    store.put(NS, "pin", {"memory": "the vault code is 7731"}, index=False)
    store.put(NS, "other", {"memory": "the garden gate code is 1234"})
    assert store.get(NS, "pin") is not None
    hits = store.search(NS, query="vault code", limit=5)
    assert hits[0].key == "other" and hits[-1].key == "pin" and hits[-1].score is None
    assert all("7731" not in h.text for h in memory.search("vault code", user_id="alice"))
    assert "7731" not in memory.context("vault code", user_id="alice").text


def test_index_fields_choose_the_searched_text(store: LightMemStore, memory: Memory) -> None:
    value = {"title": "Trip", "body": "flights to Oslo on the 3rd", "tags": ["travel", "oslo"]}
    store.put(NS, "trip", value, index=["body", "tags[*]"])
    (entry,) = memory.get_all(user_id="alice")
    assert entry.text == "flights to Oslo on the 3rd\ntravel\noslo"
    store.put(NS, "whole", {"who": "Ana", "age": 31})
    assert memory.get_all(user_id="alice")[1].text == "who: Ana\nage: 31"


def test_ttl_in_minutes_expires_and_refreshes_on_read(store: LightMemStore, memory: Memory) -> None:
    store.put(NS, "short", {"memory": "parked on level 3"}, ttl=10)
    (entry,) = memory.get_all(user_id="alice")
    now = datetime.now(UTC).replace(tzinfo=None)
    assert entry.expires_at is not None
    assert timedelta(minutes=9) < entry.expires_at - now <= timedelta(minutes=10)
    memory.store.set_entry_flags(entry.id, expires_at=now + timedelta(seconds=30), actor="test")
    assert store.get(NS, "short") is not None  # read: the TTL starts again
    assert memory.get(entry.id).expires_at - now > timedelta(minutes=9)  # type: ignore[operator]
    memory.store.set_entry_flags(entry.id, expires_at=now - timedelta(seconds=1), actor="test")
    assert store.get(NS, "short") is None and store.search(NS) == []


def test_a_ttl_of_a_minute_is_refreshed_on_read(store: LightMemStore, memory: Memory) -> None:
    """Only a gain of over 60 s moved the expiry: a one-minute TTL was never refreshed."""
    store.put(NS, "brief", {"memory": "the door code is 4711"}, ttl=1)
    (entry,) = memory.get_all(user_id="alice")
    now = datetime.now(UTC).replace(tzinfo=None)
    memory.store.set_entry_flags(entry.id, expires_at=now + timedelta(seconds=20), actor="test")
    assert store.get(NS, "brief") is not None  # read 40 s after the put
    assert memory.get(entry.id).expires_at - now > timedelta(seconds=55)  # type: ignore[operator]
    refreshed = memory.get(entry.id).expires_at
    assert store.get(NS, "brief") is not None  # read again at once: no write
    assert memory.get(entry.id).expires_at == refreshed


def test_consolidation_never_rewrites_an_item(store: LightMemStore, memory: Memory) -> None:
    store.put(NS, "a", {"memory": "alice lives in Porto"})
    store.put(NS, "b", {"memory": "alice lives in Porto"})  # a near-duplicate fact
    memory.add("alice lives in Porto", user_id="alice")
    memory.flush(user_id="alice")
    memory.consolidate(user_id="alice")
    assert store.get(NS, "a") is not None and store.get(NS, "b") is not None


def test_the_async_api(store: LightMemStore) -> None:
    async def run() -> Any:
        await store.aput(NS, "k", {"memory": "async works"})
        got = await store.aget(NS, "k")
        found = await store.asearch(NS, query="async")
        return got, found

    got, found = asyncio.run(run())
    assert got.value == {"memory": "async works"} and found[0].key == "k"


def test_the_docs_snippet_runs_as_written(tmp_path: Path) -> None:
    """docs/integrations.md's LangGraph block, pasted into a file and run (it once compiled
    a graph with no entry point)."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "integrations.md").read_text()
    section = doc.split("## LangGraph", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    script = tmp_path / "snippet.py"
    script.write_text(code)
    env = {**os.environ, "LIGHTMEM_EMBEDDER__PROVIDER": "hash", "LIGHTMEM_LLM__PROVIDER": "none"}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "Alice is vegetarian since 2019."
