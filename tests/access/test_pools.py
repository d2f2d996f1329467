"""Shared pools through the Python API: grants, spanning search, attribution, revoke."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightmem import Memory
from lightmem.errors import AccessDeniedError, InputError, NotFoundError
from lightmem.types import Scope

CONFIG = {"embedder": {"provider": "hash"}, "llm": "none"}
TEAM = Scope("team")
PLANNER = Scope(None, "planner")
CODER = Scope(None, "coder")


@pytest.fixture
def mem(tmp_path: Path) -> Memory:
    m = Memory(tmp_path / "store", config=CONFIG)
    m.add("the deploy window is Friday at noon", user_id="team")
    m.add("the planner prefers small pull requests", agent_id="planner")
    m.add("the coder's secret scratch note: kiwi", agent_id="coder")
    m.flush()
    yield m
    m.close()


def test_one_ranking_across_pools_puts_the_closest_first(mem: Memory) -> None:
    """Each pool's best hit has the same fused rank score: the one closer to the query
    leads, whichever pool it is in (the own pool's stray memory came first)."""
    mem.grant("read", pool=TEAM, to=PLANNER)
    planner = mem.as_scope(agent_id="planner")
    hits = planner.search("when is the deploy window?", shared=True)
    assert [h.scope.owner for h in hits] == [TEAM, PLANNER]
    assert hits[0].match is not None and hits[1].match is not None
    assert hits[0].match > hits[1].match
    about_prs = planner.search("what size should pull requests be?", shared=True)
    assert about_prs[0].scope.owner == PLANNER


def test_read_grant_spans_search_and_says_the_pool(mem: Memory) -> None:
    planner = mem.as_scope(agent_id="planner")
    with pytest.raises(AccessDeniedError):
        planner.search("deploy window", pool=TEAM)
    grant = mem.grant("read", pool=TEAM, to=PLANNER)
    assert grant is not None and grant.level == "read"
    hits = planner.search("deploy window Friday pull requests", shared=True)
    assert {h.scope.owner for h in hits} == {TEAM, PLANNER}
    assert not any("kiwi" in h.text for h in hits)  # no grant on the coder
    block = planner.context("deploy window", shared=True, budget_tokens=200)
    assert "Friday" in block.text and "kiwi" not in block.text
    assert [e.text for e in planner.get_all(pool=TEAM)]
    with pytest.raises(AccessDeniedError):
        planner.add("planner writes", pool=TEAM)
    team_id = mem.get_all(user_id="team")[0].id
    # a memory the key may read: a change is refused as such, not as a missing id
    with pytest.raises(AccessDeniedError, match="may only read"):
        planner.update(team_id, "changed")
    with pytest.raises(AccessDeniedError, match="may only read"):
        planner.delete(team_id)
    assert planner.get(team_id).id == team_id
    assert mem.get(team_id).text != "changed"


def test_write_grant_attributes_writes_and_revoke_stops_at_once(mem: Memory) -> None:
    mem.grant("write", pool=TEAM, to=PLANNER)
    planner = mem.as_scope(agent_id="planner")
    planner.add("the release notes live in docs/releases", pool=TEAM)
    mem.flush()
    turn = mem.turns(user_id="team")[-1]
    assert turn.author == "agent:planner"
    entry = next(e for e in mem.get_all(user_id="team") if "release" in e.text)
    planner.update(entry.id, "release notes: docs/releases")
    assert mem.history(entry.id)[-1].actor == "agent:planner"
    assert mem.revoke(pool=TEAM, to=PLANNER)
    with pytest.raises(AccessDeniedError):
        planner.search("release", pool=TEAM)
    assert not any(h.scope.owner == TEAM for h in planner.search("release notes", shared=True))
    with pytest.raises(NotFoundError):
        planner.get(entry.id)


def test_grants_are_checked(mem: Memory) -> None:
    with pytest.raises(InputError):
        mem.grant("admin", pool=TEAM, to=PLANNER)  # type: ignore[arg-type]
    with pytest.raises(InputError):
        mem.grant("read", pool=TEAM, to=TEAM)
    mem.grant("read", pool=TEAM, to={"user_id": "alice"})
    # a grant to a user alone covers that user's agents
    assert mem.as_scope(user_id="alice", agent_id="helper").get_all(pool=TEAM)
    assert [g.grantee for g in mem.grants(pool=TEAM)] == [Scope("alice")]
    mem.delete_all(user_id="team")
    assert mem.grants() == []


def test_shared_context_follows_the_same_mode_rule_as_the_plain_one(tmp_path: Path) -> None:
    """With ``retrieval.mode = "hierarchical"``, ``hierarchical=False`` turns session
    summaries off for this call, on the shared path exactly as on the plain one (the pooled
    context once kept the configured mode and led with the summaries)."""
    config = {**CONFIG, "retrieval": {"mode": "hierarchical"}}
    with Memory(tmp_path / "h", config=config) as m:
        for day in (1, 2):
            m.add(
                [{"role": "user", "content": f"on day {day} the team shipped release {day}"}],
                user_id="team",
                session_id=f"s{day}",
                timestamp=f"2024-01-0{day}T10:00:00",
            )
        m.flush()
        m.consolidate(user_id="team")  # builds the session summaries
        team = m.as_scope(user_id="team")
        for flag in (None, True, False):
            plain = m.context("release shipped", user_id="team", hierarchical=flag)
            shared = team.context("release shipped", shared=True, hierarchical=flag)
            assert shared.text == plain.text, flag
            assert ("Sessions (oldest first):" in shared.text) is (flag is not False), flag
