"""The routes behind the memory browser's views: counts beyond a limit, a scope's turns,
what entered the store per day, a forget of exactly the ids a preview showed, and the
headers of the two pages (``/ui``, ``/docs``)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lightmem import Memory
from tests.server.conftest import Tenants, seed


def test_the_memory_list_counts_past_its_limit(
    client: TestClient, tenants: Tenants, memory: Memory
) -> None:
    seed(memory, "alice", [f"fact number {i}" for i in range(7)])
    a = tenants.auth(tenants.alice)
    out = client.get("/v1/memories", params={"limit": 3}, headers=a).json()
    assert len(out["memories"]) == 3 and out["total"] == 7
    assert client.get("/v1/memories", headers=a).json()["total"] == 7


def test_turns_of_the_keys_scope_only(client: TestClient, tenants: Tenants, memory: Memory) -> None:
    memory.add(
        [
            {"role": "user", "content": "hello from session one", "session_id": "s1"},
            {"role": "assistant", "content": "hi!", "session_id": "s1"},
            {"role": "user", "content": "back again", "session_id": "s2"},
        ],
        user_id="alice",
    )
    seed(memory, "bob", ["bob's secret"])
    memory.forget("again", user_id="alice")
    a = tenants.auth(tenants.alice)
    out = client.get("/v1/turns", headers=a).json()
    assert [t["content"] for t in out["turns"]] == ["hello from session one", "hi!"]
    assert out["total"] == 2
    one = client.get("/v1/turns", params={"limit": 1, "session_id": "s1"}, headers=a).json()
    assert len(one["turns"]) == 1 and one["total"] == 2
    assert client.get("/v1/turns", params={"user_id": "bob"}, headers=a).status_code == 403


def test_activity_per_day_with_llm_usage_for_admins_only(
    client: TestClient, tenants: Tenants, memory: Memory
) -> None:
    seed(memory, "alice", ["one", "two"])
    seed(memory, "bob", ["three"])
    today = datetime.now(UTC).date().isoformat()
    mine = client.get("/v1/stats/activity", headers=tenants.auth(tenants.alice)).json()
    assert mine["scope"]["user_id"] == "alice" and mine["turns"] == 2
    assert mine["days"] == [
        {
            "day": today,
            "turns": 2,
            "memories": 2,
            "llm_calls": None,
            "failed_calls": None,
            "tokens": None,
        }
    ]
    every = client.get("/v1/stats/activity", headers=tenants.auth(tenants.admin)).json()
    assert every["scope"] is None and every["turns"] == 3
    assert every["days"][0]["llm_calls"] == 0 and every["days"][0]["memories"] == 3


def test_forget_by_ids_erases_what_the_preview_showed_not_what_came_since(
    client: TestClient, tenants: Tenants, memory: Memory
) -> None:
    seed(memory, "alice", ["my cousin Ottilie lives in Ghent", "I like tea"])
    a = tenants.auth(tenants.alice)
    preview = client.post("/v1/forget", json={"query": "Ottilie"}, headers=a).json()
    seed(memory, "alice", ["Ottilie visits next week"])  # after the preview
    ids = [m["id"] for m in preview["memories"]]
    turn_ids = [t["id"] for t in preview["turns"]]
    body = {"ids": ids, "turn_ids": turn_ids, "purge": True, "confirm": True}
    done = client.post("/v1/forget", json=body, headers=a).json()
    assert done["erased_memories"] == 1 and done["erased_turns"] == 1
    texts = sorted(e.text for e in memory.get_all(user_id="alice"))
    assert texts == ["user: I like tea", "user: Ottilie visits next week"]
    unknown = client.post("/v1/forget", json={"turn_ids": ["nope"]}, headers=a)
    assert unknown.status_code == 404 and "no turn with id 'nope'" in unknown.text


def test_docs_and_ui_pages_carry_a_strict_csp_and_no_inline_script(client: TestClient) -> None:
    for path in ("/docs", "/ui"):
        page = client.get(path)
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe" not in csp and "default-src 'none'" in csp
        assert page.headers["cache-control"] == "no-store"
        scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.S)
        assert scripts and all('src="/' in attrs and not body.strip() for attrs, body in scripts)
    assert client.get("/docs/assets/swagger-ui-bundle.js").status_code == 200
    for path in ("/ui/assets/docs.html", "/ui/assets/index.html", "/ui/assets/app.js"):
        asset = client.get(path)  # a page reached by its asset path is held to the CSP too
        assert asset.status_code == 200
        assert "script-src 'self'" in asset.headers["content-security-policy"]
    init = client.get("/ui/assets/docs-init.js")
    assert init.status_code == 200 and "/openapi.json" in init.text


def test_the_serve_banner_names_the_browser_and_the_docs(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("lightmem")
    if not script.exists():
        pytest.skip("the lightmem console script is not installed in this environment")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [str(script), "--store", str(tmp_path / "s"), "serve", "--port", str(port)]
    argv.append("--allow-unauthenticated-loopback")
    env = {**os.environ, "LIGHTMEM_EMBEDDER__PROVIDER": "hash", "LIGHTMEM_LLM__PROVIDER": "none"}
    env["COLUMNS"] = "300"
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not any("/docs" in line for line in lines):
            lines.append(proc.stderr.readline())
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    banner = "".join(lines)
    assert f"memory browser: http://127.0.0.1:{port}/ui" in banner
    assert f"API reference: http://127.0.0.1:{port}/docs" in banner
