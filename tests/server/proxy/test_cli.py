"""``lightmem proxy``: it refuses to start where ``serve`` would, and says what is missing."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lightmem import Memory
from lightmem.cli import main
from lightmem.server.keys import KeyStore
from tests.server.conftest import CONFIG


def run(tmp_path: Path, *args: str) -> tuple[int, str]:
    from lightmem.cli.app import app

    result = CliRunner().invoke(app, ["--store", str(tmp_path), "proxy", *args], obj=None)
    return result.exit_code, str(result.exception or "")


def test_without_keys_it_refuses_a_public_address(tmp_path: Path) -> None:
    Memory(tmp_path, config=CONFIG).close()
    code, error = run(tmp_path, "--host", "0.0.0.0", "--upstream", "http://127.0.0.1:9/v1")
    assert code != 0 and "without API keys" in error


def test_without_an_upstream_it_says_which_key_to_set(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with Memory(tmp_path, config=CONFIG) as mem:
        KeyStore.for_memory(mem).create(users=["alice"])
    assert main(["--store", str(tmp_path), "proxy"]) == 2
    assert "proxy.upstream_url" in capsys.readouterr().err


@pytest.mark.parametrize("url", ["notaurl", "ftp://models.example/v1", "http://"])
def test_an_upstream_that_is_no_url_is_refused_at_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    with Memory(tmp_path, config=CONFIG) as mem:
        KeyStore.for_memory(mem).create(users=["alice"])
    assert main(["--store", str(tmp_path), "proxy", "--upstream", url]) == 2
    err = capsys.readouterr().err
    assert "--upstream" in err and "http://" in err and "Traceback" not in err


def test_a_missing_package_names_the_proxy_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # as if not installed
    code, error = run(tmp_path, "--upstream", "http://127.0.0.1:9/v1")
    assert code != 0 and "pip install 'lightmem[proxy]'" in error


def test_a_port_in_use_is_refused_at_start_with_the_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """It announced the proxy, then uvicorn printed its own error and exited 3."""
    with Memory(tmp_path, config=CONFIG) as mem:
        KeyStore.for_memory(mem).create(users=["alice"])
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        args = ["--store", str(tmp_path), "proxy", "--port", port]
        assert main([*args, "--upstream", "http://127.0.0.1:9/v1"]) == 2
    err = capsys.readouterr().err
    assert f"port {port} on 127.0.0.1 is in use" in err and "--port" in err
    assert "memory proxy on" not in err
