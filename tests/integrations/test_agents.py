"""LightMemSession against the real ``openai-agents``: an agent on the SDK's own scripted
``Model`` runs twice over the session (the second run sees the first), the items are turns
of the LightMem session, tool calls round-trip, and the ready ``session_input_callback``
puts the user's memory block first without storing it."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("agents")

from agents import Agent, RunConfig, Runner, function_tool
from agents.testing import ScriptedModel, assistant_message, function_call

from lightmem import Memory
from lightmem.integrations.agents import ITEM_MARK, LightMemSession
from lightmem.retrieval.query import MEMORY_PREAMBLE
from tests.support.memories import MakeMemory

QUIET = RunConfig(tracing_disabled=True)


@pytest.fixture
def memory(make_memory: MakeMemory) -> Memory:
    return make_memory()


def run(agent: Agent[Any], text: str, session: LightMemSession, config: RunConfig = QUIET) -> Any:
    return asyncio.run(Runner.run(agent, text, session=session, run_config=config))


def texts(items: Any) -> list[str]:
    out = []
    for item in items:
        content = item.get("content") if isinstance(item, dict) else None
        if isinstance(content, list):
            content = " ".join(p.get("text", "") for p in content)
        out.append(str(content))
    return out


def test_two_runs_share_the_session_kept_as_turns(memory: Memory) -> None:
    model = ScriptedModel(
        [[assistant_message("Nice to meet you, Ines.")], [assistant_message("You are Ines.")]]
    )
    agent = Agent(name="helper", instructions="Be brief.", model=model)
    session = LightMemSession("chat-1", memory, user_id="ines")
    run(agent, "Hi, my name is Ines and I keep bees.", session)
    result = run(agent, "What is my name?", session)
    assert result.final_output == "You are Ines."
    second = texts(model.calls[1].input)
    assert second[:2] == ["Hi, my name is Ines and I keep bees.", "Nice to meet you, Ines."]
    assert second[-1] == "What is my name?"
    turns = memory.turns(user_id="ines", session_id="chat-1")
    assert [(t.role, t.content) for t in turns] == [
        ("user", "Hi, my name is Ines and I keep bees."),
        ("assistant", "Nice to meet you, Ines."),
        ("user", "What is my name?"),
        ("assistant", "You are Ines."),
    ]
    items = asyncio.run(session.get_items(limit=2))
    assert items == [
        {"role": "user", "content": "What is my name?"},
        {"role": "assistant", "content": "You are Ines."},
    ]


def test_the_callback_puts_the_memory_block_first_and_never_stores_it(memory: Memory) -> None:
    memory.add(
        "I parked the van on level 3 of the Arcade garage.", user_id="ines", session_id="old"
    )
    memory.flush(user_id="ines")
    model = ScriptedModel([[assistant_message("Level 3, Arcade garage.")]])
    agent = Agent(name="helper", instructions="Be brief.", model=model)
    session = LightMemSession("chat-2", memory, user_id="ines")
    config = RunConfig(tracing_disabled=True, session_input_callback=session.context_callback())
    run(agent, "Where did I park the van?", session, config)
    first = model.calls[0].input[0]
    assert first["role"] == "system" and first["content"].startswith(MEMORY_PREAMBLE)
    assert "level 3 of the Arcade garage" in first["content"]
    kept = memory.turns(user_id="ines", session_id="chat-2")
    assert [t.role for t in kept] == ["user", "assistant"]
    assert not any(MEMORY_PREAMBLE in t.content for t in kept)


def test_without_memories_the_callback_adds_nothing(memory: Memory) -> None:
    model = ScriptedModel([[assistant_message("Hello.")]])
    agent = Agent(name="helper", instructions="Be brief.", model=model)
    session = LightMemSession("chat-3", memory, user_id="nobody")
    config = RunConfig(tracing_disabled=True, session_input_callback=session.context_callback())
    run(agent, "Hello there", session, config)
    assert texts(model.calls[0].input) == ["Hello there"]


def weather_agent(said: str, replies: list[str]) -> tuple[Agent[Any], ScriptedModel]:
    """An agent whose model calls its weather tool for Oslo (which answers "sunny in Oslo"
    and ``said``), then gives ``replies``, one a run."""

    @function_tool
    def weather(city: str) -> str:
        """The weather in a city."""
        return f"sunny in {city}{said}"

    calls = [[function_call("weather", {"city": "Oslo"}, call_id="call-1")]]
    model = ScriptedModel([*calls, *([assistant_message(r)] for r in replies)])
    agent = Agent(name="helper", instructions="Be brief.", model=model, tools=[weather])
    return agent, model


def test_tool_calls_round_trip_as_tool_turns(memory: Memory) -> None:
    agent, model = weather_agent("", ["It is sunny in Oslo.", "Still sunny."])
    session = LightMemSession("chat-4", memory, user_id="ines")
    run(agent, "Weather in Oslo?", session)
    items = asyncio.run(session.get_items())
    kinds = [i.get("type", i.get("role")) for i in items]
    assert kinds == ["user", "function_call", "function_call_output", "assistant"]
    assert items[1]["call_id"] == "call-1" and items[2]["output"] == "sunny in Oslo"
    turns = memory.turns(user_id="ines", session_id="chat-4")
    assert turns[1].role == "tool" and turns[1].content.startswith(ITEM_MARK)
    run(agent, "And now?", session)  # the stored call and output are valid input again
    replayed = model.calls[2].input
    assert any(isinstance(i, dict) and i.get("type") == "function_call_output" for i in replayed)


def test_the_block_leaves_out_what_the_history_already_holds(memory: Memory) -> None:
    """The second run's history holds the first run's items: quoted again in the block,
    they cost their tokens twice, and a tool call's stored JSON read as SDK internals."""
    memory.add("I parked the van on level 3 of the Arcade garage.", user_id="ines", session_id="a")
    memory.flush(user_id="ines")
    replies = ["It is sunny in Oslo, the van is dry.", "Level 3 of the Arcade garage."]
    agent, model = weather_agent(", the van is dry", replies)
    session = LightMemSession("chat-6", memory, user_id="ines")
    config = RunConfig(tracing_disabled=True, session_input_callback=session.context_callback())
    run(agent, "Is it sunny where the van is parked in Oslo?", session, config)
    memory.flush(user_id="ines")
    run(agent, "Where did I park the van?", session, config)
    block = model.calls[2].input[0]["content"]
    assert block.startswith(MEMORY_PREAMBLE) and "level 3 of the Arcade garage" in block
    for said in ("Is it sunny where the van", "It is sunny in Oslo", ITEM_MARK.strip()):
        assert said not in block


def test_pop_and_clear_erase_turns(memory: Memory) -> None:
    session = LightMemSession("chat-5", memory, user_id="ines")
    asyncio.run(
        session.add_items(
            [{"role": "user", "content": "first"}, {"role": "assistant", "content": "second"}]
        )
    )
    assert asyncio.run(session.pop_item()) == {"role": "assistant", "content": "second"}
    assert [t.content for t in memory.turns(user_id="ines", session_id="chat-5")] == ["first"]
    asyncio.run(session.clear_session())
    assert memory.turns(user_id="ines", session_id="chat-5") == []
    assert asyncio.run(session.pop_item()) is None
    assert asyncio.run(session.get_items()) == []


def test_a_session_stays_in_its_scope(memory: Memory) -> None:
    mine = LightMemSession("shared-id", memory, user_id="ines")
    theirs = LightMemSession("shared-id", memory, user_id="omar")
    asyncio.run(mine.add_items([{"role": "user", "content": "ines's note"}]))
    assert asyncio.run(theirs.get_items()) == []
    with pytest.raises(ValueError, match="scope is required"):
        LightMemSession("s", memory)
