"""The ``lightmem`` command line, run in-process through ``main`` (the one place errors are
translated), with the hashing embedder and no LLM so every test is fast and offline."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lightmem.cli import main
from tests.cli.conftest import Outcome

LOCOMO = [
    {
        "sample_id": "s1",
        "conversation": {
            "speaker_a": "Ana",
            "speaker_b": "Ben",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": [
                {"speaker": "Ana", "dia_id": "D1:1", "text": "I adopted a puppy named Rex."},
                {"speaker": "Ben", "dia_id": "D1:2", "text": "What breed is Rex?"},
                {"speaker": "Ana", "dia_id": "D1:3", "text": "Rex is a beagle, very loud."},
            ],
            "session_2_date_time": "10:00 am on 20 May, 2023",
            "session_2": [
                {"speaker": "Ben", "dia_id": "D2:1", "text": "I started learning the cello."},
                {"speaker": "Ana", "dia_id": "D2:2", "text": "Cello lessons sound lovely."},
            ],
        },
        "qa": [
            {
                "question": "What breed is Rex?",
                "answer": "beagle",
                "evidence": ["D1:3"],
                "category": 4,
            },
            {
                "question": "What instrument does Ben learn?",
                "answer": "cello",
                "evidence": ["D2:1"],
                "category": 4,
            },
        ],
    }
]


def add_two(cli: Any) -> list[str]:
    messages = [
        {"role": "user", "content": "I love hiking in the Alps", "ref": "m1"},
        {"role": "assistant", "content": "The Alps are great for hiking", "ref": "m2"},
    ]
    r = cli("add", "--user", "u1", "--json", input=json.dumps(messages))
    assert r.code == 0, r.stderr
    assert cli("flush", "--user", "u1").code == 0
    listed = cli("list", "--user", "u1", "--json").json()
    return [e["id"] for e in listed]


def test_add_from_stdin_prints_turn_ids(cli: Any) -> None:
    r = cli(
        "add",
        "-",
        "--user",
        "u1",
        input='[{"role": "user", "content": "Hello there"},'
        '{"role": "assistant", "content": "Hi!"}]',
    )
    assert r.code == 0, r.stderr
    ids = r.stdout.split()
    assert len(ids) == 2 and all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids)
    assert "2 turn(s) stored (no-LLM mode" in " ".join(r.stderr.split())  # the mode it is in
    assert cli("flush").code == 0
    entries = cli("list", "--user", "u1", "--json").json()
    assert {e["text"] for e in entries} == {"user: Hello there", "assistant: Hi!"}


def test_add_jsonl_file_with_session_and_timestamp(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"
    path.write_text(
        '{"role": "user", "content": "My sister lives in Lisbon", "speaker": "Kim"}\n\n'
        '{"role": "user", "content": "She teaches maths", "ref": "x2"}\n',
        encoding="utf-8",
    )
    r = cli("add", str(path), "-u", "u1", "-s", "trip", "-t", "2023-05-08T13:56:00", "--json")
    assert r.code == 0, r.stderr
    assert len(r.json()["turn_ids"]) == 2
    cli("flush")
    hits = cli("search", "Lisbon sister", "--user", "u1", "--json").json()
    source = hits[0]["sources"][0]
    assert source["content"] == "My sister lives in Lisbon"
    assert source["speaker"] == "Kim"
    assert source["session_id"] == "trip"
    assert source["timestamp"] == "2023-05-08T13:56:00"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'[{"role": "user", "content": "a"', "is not valid JSON (line 1"),
        (b'{"role": "user", "content": "a"}\n{"role": "user" "content": "b"}\n', "line 2"),
        (b"caf\xe9 au lait", "is not UTF-8 text (byte 0xe9 at offset 3)"),
        (b"", "is empty"),
        (b'"just a string"', "got a JSON string"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(
    cli: Any, tmp_path: Path, data: bytes, message: str
) -> None:
    add_two(cli)
    before = cli("export").stdout
    bad = tmp_path / "bad.json"
    bad.write_bytes(data)
    for r in (cli("add", str(bad), "--user", "u1"), cli("add", "--user", "u1", input=data)):
        assert r.code == 2
        assert message in r.stderr
        assert r.stderr.startswith("error: ") and r.stderr.count("\n") == 1
        assert "Traceback" not in r.stderr
    assert cli("export").stdout == before


def test_invalid_message_names_it_and_writes_nothing(cli: Any) -> None:
    r = cli("add", "--user", "u1", input='[{"role": "user", "content": "ok"}, {"role": "bot"}]')
    assert r.code == 2 and "message 1" in r.stderr
    assert cli("stats", "--json").json()["scopes"] == []


def test_scope_is_required(cli: Any) -> None:
    r = cli("search", "anything")
    assert r.code == 2 and "--user" in r.stderr


def test_ingest_locomo_then_search_shows_dia_ids(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps(LOCOMO), encoding="utf-8")
    r = cli("ingest", str(data), "--format", "locomo", "--json")
    assert r.code == 0, r.stderr
    report = r.json()
    assert report["llm_mode"] == "none" and report["flushed"] is True
    [sample] = report["samples"]
    assert sample == {
        "sample_id": "s1",
        "user_id": "s1",
        "sessions": 2,
        "turns": 5,
        "skipped_turns": 0,
        "entries": 5,
    }

    hits = cli("search", "beagle puppy Rex", "--user", "s1", "-k", "3", "--json").json()
    refs = [s["ref"] for h in hits for s in h["sources"]]
    assert "D1:3" in refs and set(refs) <= {"D1:1", "D1:2", "D1:3", "D2:1", "D2:2"}
    top = hits[0]["sources"][0]
    assert top["speaker"] in {"Ana", "Ben"} and top["session_id"] == "session_1"
    assert top["timestamp"] == "2023-05-08T13:56:00"

    human = cli("search", "cello", "--user", "s1")
    assert human.code == 0 and "D2:" in human.stdout

    again = cli("ingest", str(data), "--format", "locomo")
    assert again.code == 2 and "already holds turns" in again.stderr


def test_ingest_human_output_and_unknown_sample(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps(LOCOMO), encoding="utf-8")
    missing = cli("ingest", str(data), "--format", "locomo", "--sample", "nope")
    assert missing.code == 2 and "nope" in missing.stderr
    r = cli("ingest", str(data), "-f", "locomo", "--sample", "s1", "--no-flush")
    assert r.code == 0, r.stderr
    assert "no-LLM mode" in r.stdout and "s1" in r.stdout and "quirks" in r.stdout


def test_entry_round_trip(cli: Any) -> None:
    first, _ = add_two(cli)
    got = cli("get", first, "--json").json()
    assert got["id"] == first and got["status"] == "active" and got["version"] == 1
    assert "I love hiking" in cli("get", first).stdout

    updated = cli("update", first, "Loves hiking in the Dolomites", "--reason", "fix", "--json")
    assert updated.code == 0, updated.stderr
    assert updated.json()["text"] == "Loves hiking in the Dolomites"
    assert updated.json()["version"] == 2

    assert cli("delete", first).code == 0
    again = cli("delete", first)  # idempotent, and says so (it printed "deleted" again)
    assert again.code == 0 and "already deleted" in again.stdout
    events = [h["event"] for h in cli("history", first, "--json").json()]
    assert events == ["ADD", "UPDATE", "DELETE"]
    assert "Dolomites" in cli("history", first).stdout

    active = cli("list", "--user", "u1", "--json").json()
    assert first not in {e["id"] for e in active}
    everything = cli("list", "--user", "u1", "--all", "--json").json()
    assert {e["id"]: e["status"] for e in everything}[first] == "deleted"
    assert cli("get", first, "--json").json()["status"] == "deleted"


@pytest.mark.parametrize(
    "argv",
    [
        ["get", "no-such-id"],
        ["history", "no-such-id"],
        ["delete", "no-such-id"],
        ["update", "no-such-id", "new text"],
    ],
)
def test_unknown_id_exits_2(cli: Any, argv: list[str]) -> None:
    add_two(cli)
    r = cli(*argv)
    assert r.code == 2 and "no-such-id" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize(
    "argv",
    [["search", "x", "--user", "u1"], ["list", "--user", "u1"], ["stats"], ["get", "abc"]],
)
def test_a_command_that_reads_a_store_that_is_not_there_says_so(
    cli: Any, tmp_path: Path, argv: list[str]
) -> None:
    """A mistyped --store was made a new store that found nothing (exit 0)."""
    typo = tmp_path / "nope"
    r = cli(*argv, store=typo)
    assert r.code == 2 and f"no store at {typo}" in r.stderr and "--store" in r.stderr
    assert not typo.exists()


def test_verbose_shows_the_traceback(cli: Any) -> None:
    add_two(cli)
    r = cli("--verbose", "get", "no-such-id")
    assert r.code == 2 and "Traceback" in r.stderr and "error: " in r.stderr


def test_supersede_chain_and_get_show_validity(cli: Any) -> None:
    first, second = add_two(cli)
    r = cli("supersede", first, "--by", second, "--reason", "changed", "--json")
    assert r.code == 0, r.stderr
    assert r.json()["superseded_by"] == second and r.json()["valid_from"] is not None
    assert cli("get", first, "--json").json()["superseded_by"] == second
    chain = cli("chain", second, "--json").json()
    assert [e["id"] for e in chain] == [first, second]
    table = cli("chain", first)
    assert table.code == 0 and "now" in table.stdout and first in table.stdout
    assert cli("history", first, "--json").json()[-1]["event"] == "SUPERSEDE"
    # a search hit says it was replaced, as REST's do (it showed both alike)
    hits = {h["id"]: h for h in cli("search", "Alps", "--user", "u1", "--json").json()}
    assert hits[first]["superseded_by"] == second and hits[first]["valid_until"] is not None
    assert hits[second]["superseded_by"] is None
    assert "(replaced)" in cli("search", "Alps", "--user", "u1").stdout
    bad = cli("supersede", first)
    assert bad.code == 2 and "--by" in bad.stderr and "--undo" in bad.stderr
    assert cli("supersede", second, "--by", first).code == 2  # a cycle
    undone = cli("supersede", first, "--undo", "--json").json()
    assert undone["superseded_by"] is None and undone["valid_until"] is None


def test_export_import_round_trip(cli: Any, tmp_path: Path) -> None:
    first, _ = add_two(cli)
    cli("update", first, "Hikes in the Alps every summer")
    out = tmp_path / "export.jsonl"
    r = cli("export", "-o", str(out))
    assert r.code == 0 and "exported" in r.stderr
    assert {json.loads(line)["kind"] for line in out.read_text().splitlines()} >= {
        "turn",
        "entry",
        "history",
    }

    fresh = tmp_path / "fresh"
    imported = cli("import", str(out), "--json", store=fresh)
    assert imported.code == 0, imported.stderr
    assert imported.json()["imported"] == len(out.read_text().splitlines())
    for args in (["list", "--user", "u1", "--all", "--json"], ["history", first, "--json"]):
        assert cli(*args, store=fresh).json() == cli(*args).json()
    again = cli("import", str(out), store=fresh)  # ids it holds: the caller's to fix (was 1)
    assert again.code == 2 and "already exist in this store" in again.stderr


def test_import_bad_line_exits_2(cli: Any, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "turn"}\n[1, 2]\n', encoding="utf-8")
    r = cli("import", str(bad))
    assert r.code == 2 and "line 2" in r.stderr


def test_misspelled_config_key_exits_2_naming_it(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('[embedder]\nprovider = "hash"\n\n[retreival]\nlimit = 3\n')
    with CliRunner().isolation() as (_, err, _):
        code = main(["--store", str(tmp_path / "s"), "--config", str(config), "stats"])
        message = err.getvalue().decode()
    assert code == 2
    assert "retreival" in message
    assert not (tmp_path / "s").exists()


def test_list_says_when_turns_wait_in_the_buffer(cli: Any) -> None:
    """After an import, `list` said "no memories" and nothing of the turns it had just added."""
    said = json.dumps({"role": "user", "content": "I love hiking in the Alps"})
    assert cli("add", "--user", "u1", input=said).code == 0
    r = cli("list", "--user", "u1")
    assert r.code == 0 and "1 of its turns are buffered" in r.stderr
    assert "lightmem flush" in r.stderr
    assert "buffered" not in cli("list", "--user", "u2").stderr  # u1's turns, not u2's
    assert cli("flush", "--user", "u1").code == 0
    assert "buffered" not in cli("list", "--user", "u1").stderr


def test_a_partial_config_changes_only_what_it_names(cli: Any, tmp_path: Path) -> None:
    """A --config of only [proxy] dropped the store's embedder and LLM: the default ones
    were refused ('built with the embedder hash-...') or its settings lost."""
    add_two(cli)
    partial = tmp_path / "proxy.toml"
    partial.write_text('[proxy]\nhistory_turns = 4\n\n[retrieval]\nmode = "bm25"\n')
    store = tmp_path / "store"
    with CliRunner().isolation() as (_, err, _):
        code = main(["--store", str(store), "--config", str(partial), "search", "-u", "u1", "x"])
        said = err.getvalue().decode()
    assert code == 0, said
    saved = json.loads((store / "config.json").read_text())
    assert saved["embedder"]["provider"] == "hash" and saved["llm"]["provider"] == "none"
    assert saved["proxy"]["history_turns"] == 4 and saved["retrieval"]["mode"] == "bm25"


def test_stats_json_shape(cli: Any) -> None:
    add_two(cli)
    cli("add", "--user", "u2", "--agent", "bot", input='{"role": "user", "content": "hi"}')
    stats = cli("stats", "--json").json()
    assert set(stats) == {
        "store",
        "llm_mode",
        "llm_description",
        "extraction",
        "embedder",
        "embedder_description",
        "scopes",
        "entries",
        "buffered_turns",
        "pending_batches",
        "failed_batches",
        "invalid_sources",
        "repaired_sources",
        "failures",
        "llm",
        "timings",
    }
    assert stats["failures"] == [] and stats["repaired_sources"] == 0
    assert stats["llm_mode"] == "none" and "no-LLM mode" in stats["llm_description"]
    assert stats["extraction"] == {"state": "off", "message": None, "since": None, "retry_at": None}
    assert stats["embedder"] in stats["embedder_description"]
    scopes = {(s["user_id"], s["agent_id"]): s for s in stats["scopes"]}
    assert scopes[("u1", None)] == {"user_id": "u1", "agent_id": None, "active": 2, "deleted": 0}
    assert stats["entries"] == 2 + scopes[("u2", "bot")]["active"]
    assert stats["buffered_turns"] + scopes[("u2", "bot")]["active"] >= 1
    assert set(stats["llm"]) == {"stages", "total"}
    assert set(stats["llm"]["total"]) == {
        "calls",
        "failed_calls",
        "tokens_in",
        "tokens_out",
        "seconds",
    }
    human = cli("stats")
    assert human.code == 0 and "u1" in human.stdout


def test_stats_shows_why_a_batch_failed(tmp_path: Path) -> None:
    config = tmp_path / "scripted.toml"
    config.write_text(
        '[embedder]\nprovider = "hash"\n\n[llm]\nprovider = "scripted"\n\n'
        "[extraction]\nmax_retries = 0\n",
        encoding="utf-8",
    )
    store = tmp_path / "failing"

    def run(*args: str, input: str | None = None) -> Outcome:
        with CliRunner().isolation(input=input) as (out, err, _):
            code = main(["--store", str(store), "--config", str(config), *args])
            return Outcome(code, out.getvalue().decode(), err.getvalue().decode())

    text = "Ana adopted a beagle puppy named Rex last spring"
    run("add", "--user", "u1", input=json.dumps({"role": "user", "content": text}))
    flushed = run("flush", "--json")  # the scripted LLM has no reply queued: it fails
    (batch_id,) = flushed.json()["failed_batches"]
    assert flushed.code == 1  # a cron job sees it (it exited 0)
    stats = run("stats", "--json").json()
    (failure,) = stats["failures"]
    assert set(failure) == {"where", "ref", "at", "attempts", "message"}
    assert failure["where"] == "extraction" and failure["ref"] == batch_id
    assert failure["attempts"] == 1 and "queue is empty" in failure["message"]
    assert "beagle" not in failure["message"]
    human = run("stats")
    assert "Recent failures" in human.stdout and batch_id[:8] in human.stdout
    assert "beagle" not in human.stdout


def test_consolidate_and_flush_json(cli: Any) -> None:
    add_two(cli)
    flushed = cli("flush", "--json").json()
    assert set(flushed) == {"entries_created", "batches_done", "failed_batches", "waiting_batches"}
    result = cli("consolidate", "--user", "u1", "--json").json()
    assert set(result) == {
        "examined",
        "updated",
        "deleted",
        "merged",
        "ignored",
        "replaced",
        "expired",
        "failed",
        "summaries",
        "failed_summaries",
    }
    assert cli("consolidate").code == 0


def test_demo_runs_end_to_end(cli: Any, tmp_path: Path) -> None:
    store = tmp_path / "demo-store"
    r = cli("demo", "--questions", "2", store=store)
    assert r.code == 0, r.stderr
    assert "no-LLM mode" in r.stdout
    assert "Q1" in r.stdout and "Q2" in r.stdout and "Q3" not in r.stdout
    assert "gold evidence" in r.stdout and "LLM calls" in r.stdout
    assert re.search(r"↳ D\d+:\d+", r.stdout)  # source turns by their dia_id
    assert cli("list", "--user", "demo", "--json", store=store).json()

    again = cli("demo", store=store)
    assert again.code == 2 and "already holds turns" in again.stderr


def test_demo_with_data_file(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps(LOCOMO), encoding="utf-8")
    r = cli("demo", "--data", str(data), "--format", "locomo", "--quiet", store=tmp_path / "d")
    assert r.code == 0, r.stderr
    assert "What breed is Rex?" in r.stdout and "D1:3 ✓" in r.stdout


def test_console_script_exit_code(tmp_path: Path, config: Path) -> None:
    script = Path(sys.executable).parent / "lightmem"
    if not script.exists():
        pytest.skip("the lightmem console script is not installed in this environment")
    env = {**os.environ, "NO_COLOR": "1"}
    argv = [str(script), "--store", str(tmp_path / "s"), "--config", str(config)]
    r = subprocess.run([*argv, "get", "nope"], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    ok = subprocess.run([*argv, "--help"], capture_output=True, text=True, env=env)
    assert ok.returncode == 0 and "demo" in ok.stdout


def test_search_mode_and_time_range(cli: Any, tmp_path: Path) -> None:
    data = tmp_path / "locomo.json"
    data.write_text(json.dumps(LOCOMO), encoding="utf-8")
    assert cli("ingest", str(data), "--format", "locomo", "--quiet").code == 0
    bm25 = cli("search", "cello", "--user", "s1", "--mode", "bm25", "--json").json()
    assert {s["ref"] for h in bm25 for s in h["sources"]} == {"D2:1", "D2:2"}  # term matches only
    late = cli("search", "Rex cello", "-u", "s1", "--since", "2023-05-15", "--json").json()
    assert late and {h["timestamp"][:10] for h in late} == {"2023-05-20"}
    bad = cli("search", "cello", "-u", "s1", "--until", "next tuesday")
    assert bad.code == 2 and "next tuesday" in bad.stderr
    assert cli("search", "cello", "-u", "s1", "--mode", "fuzzy").code == 2


def test_forget_previews_without_yes_then_purges(cli: Any) -> None:
    ids = add_two(cli)
    preview = cli("forget", "Alps hiking", "--user", "u1", "--purge", "--json").json()
    assert preview["done"] is False and len(preview["memories"]) == 2
    assert len(cli("list", "--user", "u1", "--json").json()) == 2
    human = cli("forget", "Alps", "--user", "u1")
    assert human.code == 0 and "would forget 2 memories" in human.stdout
    assert "--yes" in human.stderr
    dry = cli("forget", "Alps", "--user", "u1", "--dry-run")  # was "no such option"
    assert dry.code == 0 and "would forget 2 memories" in dry.stdout
    assert cli("forget", "Alps", "--user", "u1", "--dry-run", "--yes").code == 2
    no_target = cli("ttl", "10")  # said only "give --user USER and/or --agent AGENT"
    assert no_target.code == 2 and "--id ID" in no_target.stderr
    pinned = cli("pin", ids[0], "--json").json()
    assert pinned["pinned"] is True
    ttl = cli("ttl", "3600", "--user", "u1", "--json").json()
    assert ttl["ttl_seconds"] == 3600
    on_pinned = cli("ttl", "60", "--id", ids[0])  # it said "ttl set" and nothing more
    assert on_pinned.code == 0 and "pinned: it does not expire while pinned" in on_pinned.stderr
    done = cli("forget", "Alps", "--user", "u1", "--purge", "--yes", "--json").json()
    assert done["purged"] and done["erased_memories"] == 2 and done["erased_turns"] == 2
    assert cli("list", "--user", "u1", "--all", "--json").json() == []
    assert cli("forget", "--user", "u1").code != 0  # neither a query nor ids


def test_grant_list_revoke_mirror_the_rest_routes(cli: Any) -> None:
    made = cli("grant", "read", "--pool-user", "team", "--to-agent", "bot", "--json")
    assert made.code == 0, made.stderr
    assert made.json() == {
        "pool": {"user_id": "team", "agent_id": None},
        "to": {"user_id": None, "agent_id": "bot"},
        "level": "read",
    }
    assert cli("grant", "write", "--pool-user", "team", "--to-user", "ana").code == 0
    every = cli("grants", "--json").json()
    assert [g["to"] for g in every["given"]] == [
        {"user_id": "ana", "agent_id": None},
        {"user_id": None, "agent_id": "bot"},
    ] and every["received"] == []
    # ana's agents are covered by the grant to ana alone
    ana = cli("grants", "--user", "ana", "--agent", "helper", "--json").json()
    assert ana["given"] == [] and [g["level"] for g in ana["received"]] == ["write"]
    assert len(cli("grants", "--user", "team", "--json").json()["given"]) == 2
    human = cli("grants", "--user", "team")
    assert "given: user:team -> agent:bot: read" in human.stdout
    r = cli("revoke", "--pool-user", "team", "--to-agent", "bot", "--json")
    assert r.json() == {"revoked": True}
    again = cli("revoke", "--pool-user", "team", "--to-agent", "bot")
    assert again.code == 0 and "nothing revoked" in again.stderr
    assert len(cli("grants", "--json").json()["given"]) == 1


@pytest.mark.parametrize(
    "argv",
    [
        ["grant", "admin", "--pool-user", "team", "--to-user", "ana"],  # unknown level
        ["grant", "read", "--to-user", "ana"],  # no pool
        ["grant", "read", "--pool-user", "team"],  # no grantee
        ["grant", "read", "--pool-user", "team", "--to-user", "team"],  # its own owner
        ["revoke", "--pool-user", "team"],
    ],
)
def test_bad_grants_exit_2_and_change_nothing(cli: Any, argv: list[str]) -> None:
    r = cli(*argv)
    assert r.code == 2, (r.stdout, r.stderr)
    assert cli("grants", "--json").json() == {"given": [], "received": []}


def test_a_memory_shows_the_images_of_its_source_turn(cli: Any) -> None:
    image = {"url": "https://example.org/kayak.jpg", "caption": "a red kayak"}
    msg = [{"role": "user", "content": "my new boat", "images": [image]}]
    assert cli("add", "--user", "u1", input=json.dumps(msg)).code == 0
    assert cli("flush", "--user", "u1").code == 0
    (entry,) = cli("list", "--user", "u1", "--json").json()
    assert entry["images"] == [image]
    human = cli("get", entry["id"])
    assert human.code == 0, human.stderr
    assert "a red kayak <https://example.org/kayak.jpg>" in human.stdout
