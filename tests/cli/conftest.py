"""The CLI tests' runner: ``lightmem`` run in-process through ``main`` (the one place
errors are translated), on a store with the hashing embedder and no LLM."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from lightmem.cli import main

CONFIG = """\
[embedder]
provider = "hash"

[llm]
provider = "none"
"""


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def cli(tmp_path: Path, config: Path) -> Any:
    """``cli(*args, input=..., store=...)`` runs ``lightmem --store S --config C *args``."""

    def run(*args: str, input: str | bytes | None = None, store: Path | None = None) -> Outcome:
        argv = ["--store", str(store or tmp_path / "store"), "--config", str(config), *args]
        with CliRunner().isolation(input=input) as (out, err, _):
            code = main(argv)
            return Outcome(code, out.getvalue().decode(), err.getvalue().decode())

    return run
