"""Suite-wide fixtures: the data directory points at tmp_path, no endpoint variables leak
in from the environment, and nothing touches the network."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.memories import make_memory  # noqa: F401 - a fixture for every folder
from tests.support.soak import SOAK_ENV, soak

_ENDPOINT_VARS = (
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "LIGHTMEM_LLM_MODEL",
    "LIGHTMEM_EMBEDDER_MODEL",
)


@pytest.fixture(scope="session")
def _graph_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache directory for the whole run: the MiniLM graph is written once."""
    return tmp_path_factory.mktemp("lightmem-cache")


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, _graph_cache: Path) -> None:
    monkeypatch.setenv("LIGHTMEM_HOME", str(tmp_path / "lightmem-home"))
    monkeypatch.setenv("LIGHTMEM_CACHE", str(_graph_cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in _ENDPOINT_VARS:
        monkeypatch.delenv(var, raising=False)
    import os

    for var in list(os.environ):
        if var.startswith("LIGHTMEM_") and "__" in var:
            monkeypatch.delenv(var, raising=False)


def shared_data_dir() -> Path | None:
    """``shared/data`` beside the checkout (as in CI), or None."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "data"
        if (candidate / "locomo-dev.json").is_file():
            return candidate
    return None


@pytest.fixture
def openai_server() -> Iterator[FakeOpenAIServer]:
    """A started :class:`~tests.fakes.openai_server.FakeOpenAIServer` on 127.0.0.1."""
    with FakeOpenAIServer() as server:
        yield server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"soak: long soak test, run only with {SOAK_ENV}=1 (skipped otherwise)"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if soak():
        return
    skip = pytest.mark.skip(reason=f"long soak: set {SOAK_ENV}=1 to run it")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)
