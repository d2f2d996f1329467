"""``lightmem serve`` stopped by SIGTERM (``docker stop``, systemd, Kubernetes) closes its
store before it exits, as Ctrl-C does: uvicorn re-raises the signal after its graceful
shutdown, which with the default handler had ended the process with the store still open."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from lightmem import Memory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_closes_the_store_and_exits_0(tmp_path: Path) -> None:
    store = tmp_path / "store"
    config = {"embedder": {"provider": "hash", "options": {"dim": 32}}, "llm": "none"}
    with Memory(store, config=config) as mem:
        mem.add("I keep bees on the roof.", user_id="u1")
    port = free_port()
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    argv = [sys.executable, "-m", "lightmem", "--store", str(store), "serve", "--port", str(port)]
    argv.append("--allow-unauthenticated-loopback")
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "serve did not start"
            time.sleep(0.1)
        assert (store / "lightmem.sqlite3-wal").exists()  # the store is open
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # closed: the last connection merged the write-ahead log into the database
    assert not (store / "lightmem.sqlite3-wal").exists()
