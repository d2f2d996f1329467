"""The README's shell blocks, run as written: a newcomer pastes them into one shell at the root
of the clone after `make demo`. They run in one bash, in a directory laid out like the clone
(its `.venv` and `src`), with the default embedder and no LLM configured. A block that needs
a server, the setup itself or a file the clone lacks is marked
``<!-- readme-test: skip: why -->`` on the line above it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENV = Path(sys.executable).parent.parent
BLOCK = re.compile(r"(<!-- readme-test: skip:(?P<why>[^>]*)-->\n)?```bash\n(?P<code>.*?)```", re.S)


def shell_blocks() -> list[tuple[str, str | None]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    return [(m["code"], m["why"]) for m in BLOCK.finditer(text)]


def test_every_skipped_block_says_why() -> None:
    blocks = shell_blocks()
    assert len(blocks) >= 5
    assert all(why is None or why.strip() for _, why in blocks)
    run = [code for code, why in blocks if why is None]
    assert len(run) >= 2  # the first steps and the CLI


def test_the_readme_shell_blocks_run_as_written(tmp_path: Path) -> None:
    if not (VENV / "bin" / "lightmem").exists():
        pytest.skip("the lightmem console script is not installed in this environment")
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(VENV)
    (clone / "src").symlink_to(ROOT / "src")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIGHTMEM_", "OPENAI_"))}
    env.update(HOME=str(tmp_path), HF_HUB_OFFLINE="1", NO_COLOR="1", COLUMNS="200")
    # one shell, as a person pastes the blocks one after the other (the venv stays active)
    script = "\n".join(code for code, why in shell_blocks() if why is None)
    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"{script}\n{proc.stderr[-3000:]}"
    printed = proc.stdout
    assert "salmon kibble" in printed  # the first search finds what was added
    assert "Biscuit" in printed  # the CLI block's search over the shipped conversation


def test_the_demo_suggests_commands_that_run_as_printed(tmp_path: Path) -> None:
    """After `make demo` the venv is not active: the demo's suggestions name the script it
    ran from (`.venv/bin/lightmem`), so they run when pasted as printed."""
    if not (VENV / "bin" / "lightmem").exists():
        pytest.skip("the lightmem console script is not installed in this environment")
    clone = tmp_path / "clone"
    clone.mkdir()
    (clone / ".venv").symlink_to(VENV)
    path = ":".join(p for p in os.environ["PATH"].split(":") if not p.startswith(str(VENV)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIGHTMEM_", "OPENAI_"))}
    env.update(PATH=path, TMPDIR=str(tmp_path), HOME=str(tmp_path), NO_COLOR="1", COLUMNS="300")
    demo = subprocess.run(
        [".venv/bin/lightmem", "demo", "--quiet"],
        cwd=clone,
        env={**env, "HF_HUB_OFFLINE": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "asking 5 of its 10 questions" in demo.stdout and "quirks" not in demo.stdout
    suggested = [
        line.strip() for line in demo.stdout.splitlines() if line.startswith("  .venv/bin/lightmem")
    ]
    assert len(suggested) == 2
    for line in suggested:
        proc = subprocess.run(
            ["bash", "-c", line], cwd=clone, env=env, capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0 and "Biscuit" in proc.stdout, proc.stderr[-2000:]
