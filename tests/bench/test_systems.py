"""Each system on a tiny LoCoMo file with the hash embedder: what it builds and returns,
what building costs, and that a second run reuses the cache instead of rebuilding."""

from __future__ import annotations

from pathlib import Path

import pytest

from lightmem.config import MemoryConfig
from lightmem.datasets import load_dataset
from lightmem.errors import InputError
from lightmem_bench import fake, runner
from lightmem_bench.runner import BenchSpec, MemoryCache, run, select
from lightmem_bench.systems import SystemSettings, make_system
from lightmem_bench.systems.naive_rag import chunk_turns

HASH = {"provider": "hash", "options": {"dim": 64}}


def settings(llm: str = "none", **kw: object) -> SystemSettings:
    cfg = MemoryConfig.load({"llm": llm, "embedder": HASH})
    return SystemSettings(cfg, prepare_llm=fake.install, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["lightmem", "naive-rag", "full-text", "per-turn"])
def test_every_system_returns_units_with_dataset_refs(
    name: str, locomo_file: Path, tmp_path: Path
) -> None:
    conv = load_dataset("locomo", locomo_file).conversations[0]
    system = make_system(name, settings())
    built, report = system.build(conv, tmp_path / name)
    try:
        assert report.turns == 9 and report.input_tokens > 0
        units = built.search("What does Pixel eat?", 5)
        assert 1 <= len(units) <= 5
        assert all(u.refs and set(u.refs) <= conv.refs for u in units)
        if name == "full-text":
            assert [u.refs for u in units] == [["D2:4"], ["D2:3"], ["D2:2"], ["D2:1"], ["D1:5"]]
            assert len(built.answer_context("?", 3)) == 9  # the whole history, in order
        else:
            assert units[0].refs == ["D1:1"]
            assert units[0].timestamp is not None and units[0].timestamp.month == 5
    finally:
        built.close()
        system.close()


def test_naive_rag_chunks_pack_whole_turns_within_a_session(locomo_file: Path) -> None:
    conv = load_dataset("locomo", locomo_file).conversations[0]
    first = [t for t in conv.turns if t.session_id == "session_1"]
    assert [len(c) for c in chunk_turns(first, None)] == [1] * 5
    chunks = chunk_turns(first, 30)
    assert [t.ref for c in chunks for t in c] == [t.ref for t in first]
    assert 1 < len(chunks) < 5
    assert [len(c) for c in chunk_turns(first, 1)] == [1] * 5  # a long turn stays whole


def test_per_turn_makes_one_extraction_call_per_turn(locomo_file: Path, tmp_path: Path) -> None:
    conv = load_dataset("locomo", locomo_file).conversations[0]
    per_turn = make_system("per-turn", settings("scripted"))
    built, report = per_turn.build(conv, tmp_path / "per-turn")
    built.close()
    assert report.turns == 9
    assert report.online["extraction"].calls == 9
    assert report.online["extraction"].failed_calls == 0
    assert report.offline == {} and report.notes == []
    batched = make_system("lightmem", settings("scripted"))
    built, report = batched.build(conv, tmp_path / "lightmem")
    built.close()
    assert 1 <= report.online["extraction"].calls < 9
    assert report.units >= 1


def test_unknown_system_is_named() -> None:
    with pytest.raises(InputError, match="unknown system 'mem0'"):
        make_system("mem0", settings())


def spec(locomo_file: Path, cache: Path, systems: list[str], **kw: object) -> BenchSpec:
    cfg = MemoryConfig.load({"llm": "scripted", "embedder": HASH})
    return BenchSpec("locomo", locomo_file, systems, cfg, cache, **kw)  # type: ignore[arg-type]


def test_second_run_reuses_the_cache(locomo_file: Path, tmp_path: Path) -> None:
    s = spec(locomo_file, tmp_path / "cache", ["lightmem", "naive-rag", "per-turn"])
    first = run(s, "retrieval")
    assert first["cache"]["built"] == 6 and first["cache"]["reused"] == 0
    marks = sorted((tmp_path / "cache").glob("*/*/*/build.json"))
    assert len(marks) == 6
    stamps = [p.stat().st_mtime_ns for p in marks]
    second = run(s, "retrieval")
    assert second["cache"]["built"] == 0 and second["cache"]["reused"] == 6
    assert [p.stat().st_mtime_ns for p in marks] == stamps
    # same figures, and the construction cost measured at build time is still reported
    for name in s.systems:
        a, b = first["systems"][name], second["systems"][name]
        assert a["retrieval"]["by_category"] == b["retrieval"]["by_category"]
        assert a["construction"]["online"]["calls"] == b["construction"]["online"]["calls"]
        assert all(build["cached"] for build in b["builds"])
    assert second["systems"]["per-turn"]["construction"]["online"]["calls"] == 18
    # another config is another cache entry
    other = spec(locomo_file, tmp_path / "cache", ["naive-rag"], chunk_tokens=40)
    assert run(other, "retrieval")["cache"]["built"] == 2


def test_interrupted_build_is_not_reused(locomo_file: Path, tmp_path: Path) -> None:
    s = spec(locomo_file, tmp_path / "cache", ["naive-rag"], samples=["s1"])
    sel = select(s)
    cache = MemoryCache(tmp_path / "cache")
    system = make_system("naive-rag", SystemSettings(s.config))
    key = cache.key(system, sel.conversations[0], s, sel.dataset.sha256)
    partial = tmp_path / "cache" / "naive-rag" / key[:16] / "s1.partial"
    partial.mkdir(parents=True)
    (partial / "junk").write_text("half a build")
    built, _, reused = cache.open(system, sel.conversations[0], key)
    built.close()
    assert not reused and cache.built == 1
    assert not partial.exists()
    assert (partial.with_name("s1") / "build.json").is_file()


def test_max_sessions_keeps_questions_whose_evidence_is_kept(locomo_file: Path) -> None:
    s = spec(locomo_file, Path("unused"), ["lightmem"], max_sessions=1)
    sel = select(s)
    conv = sel.conversations[0]
    assert {t.session_id for t in conv.turns} == {"session_1"}
    assert [q.question for q in conv.questions] == [
        "What does Pixel eat?",
        "Where does Maya work as a nurse?",
        "What does Bruno hate?",
    ]
    assert sel.dropped_questions == 6


def test_cache_identity_hides_secrets_but_tells_endpoints_apart() -> None:
    def identity(url: str, key: str) -> dict[str, object]:
        cfg = MemoryConfig.load(
            {
                "llm": {"provider": "openai", "options": {"base_url": url, "api_key": key}},
                "embedder": HASH,
            }
        )
        return make_system("lightmem", SystemSettings(cfg)).identity()

    a = identity("http://a/v1", "sk-secret")
    assert "sk-secret" not in str(a)
    assert a != identity("http://b/v1", "sk-secret")
    assert a == identity("http://a/v1", "sk-secret")


def test_a_build_is_reused_only_by_the_code_that_made_it(
    locomo_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = spec(locomo_file, tmp_path / "cache", ["naive-rag"], samples=["s1"])
    sel = select(s)
    system = make_system("naive-rag", SystemSettings(s.config))
    cache = MemoryCache(tmp_path / "cache")
    today = cache.key(system, sel.conversations[0], s, sel.dataset.sha256)
    assert cache.key(system, sel.conversations[0], s, sel.dataset.sha256) == today
    monkeypatch.setattr(runner, "code_fingerprint", lambda: "another-source")
    assert cache.key(system, sel.conversations[0], s, sel.dataset.sha256) != today
