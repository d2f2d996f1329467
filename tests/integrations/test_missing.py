"""Each integration imports its framework when imported: without it, the error names the
extra to install."""

from __future__ import annotations

import importlib
import sys

import pytest

from lightmem.errors import MissingDependencyError


@pytest.mark.parametrize(
    ("module", "hidden", "extra"),
    [
        ("lightmem.integrations.langgraph", "langgraph", "langgraph"),
        ("lightmem.integrations.agents", "agents", "agents"),
    ],
)
def test_a_missing_framework_names_its_extra(
    monkeypatch: pytest.MonkeyPatch, module: str, hidden: str, extra: str
) -> None:
    for name in [m for m in sys.modules if m == hidden or m.startswith(hidden + ".")]:
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    monkeypatch.setitem(sys.modules, hidden, None)
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(MissingDependencyError, match=rf"pip install 'lightmem\[{extra}\]'"):
        importlib.import_module(module)
