"""Start and stop ``lightmem serve`` and ``lightmem worker`` processes (``python -m
lightmem``, this interpreter), each with a store directory of its own: nothing is shared
between them but the PostgreSQL database their config names."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIGHTMEM_")}
    env["HF_HUB_OFFLINE"] = "1"
    return env


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    url: str | None = None  # a server's base URL
    journal: Path | None = None  # a worker's journal
    out: Path | None = None  # a worker's --json totals
    extra: dict[str, Any] = field(default_factory=dict)

    def stop(self, timeout_s: float = 60.0) -> int:
        """SIGTERM, then wait (SIGKILL after ``timeout_s``); returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()

    def kill(self) -> None:
        """SIGKILL: no clean-up, claims left to expire."""
        self.proc.kill()
        self.proc.wait()

    def totals(self) -> dict[str, Any] | None:
        if self.out is None or not self.out.is_file() or not self.out.read_text().strip():
            return None
        data: dict[str, Any] = json.loads(self.out.read_text())
        return data

    def tail(self, n: int = 2000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.is_file() else ""


def spawn(name: str, argv: list[str], work: Path, **extra: Any) -> Child:
    log = work / f"{name}.log"
    out = extra.pop("out", None)
    with open(log, "wb") as fh, open(out, "wb") if out else open(os.devnull, "wb") as so:
        proc = subprocess.Popen(
            [sys.executable, "-m", "lightmem", *argv],
            stdout=so,
            stderr=fh,
            env=child_env(),
            cwd=work,
        )
    return Child(name, proc, log, out=out, **extra)


def start_worker(
    work: Path, config: Path, name: str, *, poll_s: float = 0.2, args: tuple[str, ...] = ()
) -> Child:
    journal = work / f"{name}.jsonl"
    argv = [
        "--store",
        str(work / name),
        "--config",
        str(config),
        "worker",
        "--id",
        name,
        "--poll",
        str(poll_s),
        "--journal",
        str(journal),
        "--json",
        *args,
    ]
    return spawn(name, argv, work, journal=journal, out=work / f"{name}.json")


def start_server(work: Path, config: Path, name: str) -> Child:
    port = free_port()
    argv = [
        "--store",
        str(work / name),
        "--config",
        str(config),
        "serve",
        "--port",
        str(port),
        "--allow-unauthenticated-loopback",
        "--no-worker",
    ]
    return spawn(name, argv, work, url=f"http://127.0.0.1:{port}")


def wait_healthy(servers: list[Child], timeout_s: float = 180.0) -> None:
    deadline = time.monotonic() + timeout_s
    for server in servers:
        while True:
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} exited: {server.tail()}")
            try:
                if httpx.get(f"{server.url}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{server.name} did not answer in {timeout_s:g} s")
            time.sleep(0.2)


def write_config(path: Path, config: dict[str, Any]) -> Path:
    """The config file every child reads (it holds the database URL: owner-only)."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(json.dumps(config, indent=1))
    return path
