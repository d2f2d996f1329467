"""Docs that cannot drift: every config key, CLI command and README snippet is checked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

from lightmem.config import MemoryConfig

ROOT = Path(__file__).resolve().parents[1]


def config_keys() -> list[str]:
    keys = []
    for name, field in MemoryConfig.model_fields.items():
        section = field.annotation
        assert isinstance(section, type) and issubclass(section, BaseModel)
        keys += [f"{name}.{key}" for key in section.model_fields]
    return keys


def test_every_config_key_is_documented() -> None:
    doc = (ROOT / "docs" / "config.md").read_text()
    missing = [k for k in config_keys() if f"`{k}`" not in doc]
    assert not missing, f"undocumented config keys: {missing}"


def test_readme_starts_with_the_two_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    first_block = readme.split("```bash", 1)[1].split("```", 1)[0]
    assert "make demo" in first_block and "make test" in first_block
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in ci


def test_readme_python_example_runs(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.S)
    assert blocks
    env = {**os.environ, "LIGHTMEM_LLM__PROVIDER": "none", "LIGHTMEM_HOME": str(tmp_path)}
    printed = ""
    for code in blocks:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        printed += proc.stdout
    assert "salmon" in printed


def test_readme_toml_example_is_a_valid_config(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    (block,) = re.findall(r"```toml\n(.*?)```", readme, re.S)
    path = tmp_path / "c.toml"
    path.write_text(block)
    MemoryConfig.load(path, env={})
