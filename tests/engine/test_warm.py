"""``Memory(warm=True)`` loads the embedder's model on a thread while the store opens (the
CLI's ``add``, ``search``, ``context``, ``ingest`` and ``import-chat`` open it so): opening
does not wait for the load, and a load that fails is raised by the first call that embeds,
not by the thread."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from lightmem import Memory
from lightmem.embedders.base import Warm
from lightmem.embedders.hashing import HashEmbedder
from lightmem.errors import ConfigError, ProviderError

HASH = {"embedder": {"provider": "hash", "options": {"dim": 64}}, "llm": "none"}


def test_the_model_loads_on_a_thread_while_the_store_opens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    loaded_on: list[str] = []

    def slow_warm(self: HashEmbedder, what: Warm = "all") -> None:
        loaded_on.append(f"{threading.current_thread().name} {what}")
        started.set()
        assert release.wait(10)

    monkeypatch.setattr(HashEmbedder, "warm", slow_warm)
    with Memory(tmp_path / "s", config=HASH, warm="queries") as mem:
        assert started.wait(10)
        # the store is open and answers while the model is still loading
        assert mem.get_all(user_id="u") == []
        release.set()
        mem.add("I keep bees on the roof", user_id="u")
        found = mem.search("bees", user_id="u")
        assert [e.text for e in found] == ["user: I keep bees on the roof"]
    assert loaded_on == ["lightmem-embedder-warm queries"]  # what to load is passed on
    with Memory(tmp_path / "s", warm=True):
        pass
    assert loaded_on[1:] == ["lightmem-embedder-warm all"]


def test_without_warm_nothing_loads_before_the_first_embed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(HashEmbedder, "warm", lambda self, what="all": calls.append(what))
    with Memory(tmp_path / "s", config=HASH):
        pass
    assert calls == []


def test_a_failed_load_is_raised_by_the_first_embed_not_at_open(tmp_path: Path) -> None:
    config = {
        "embedder": {"provider": "minilm", "options": {"model_path": str(tmp_path / "none.onnx")}},
        "llm": "none",
    }
    with Memory(tmp_path / "s", config=config, warm=True) as mem:
        mem.add("I keep bees on the roof", user_id="u")  # kept; its processing waits
        assert [t.content for t in mem.turns(user_id="u")] == ["I keep bees on the roof"]
        with pytest.raises(ProviderError, match="model_path"):
            mem.search("bees", user_id="u")


def test_close_waits_for_a_load_under_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Closed while the model still loads, the memory waits for it (the load must not land
    in a closed embedder); an open that fails does not leave a load running either."""
    release = threading.Event()
    done: list[str] = []

    def slow_warm(self: HashEmbedder, what: Warm = "all") -> None:
        assert release.wait(10)
        done.append("loaded")

    monkeypatch.setattr(HashEmbedder, "warm", slow_warm)
    closer = threading.Thread(target=lambda: Memory(tmp_path / "s", config=HASH, warm=True).close())
    closer.start()
    closer.join(0.3)
    assert closer.is_alive()  # close waits for the load
    release.set()
    closer.join(10)
    assert done == ["loaded"] and not closer.is_alive()
    release.clear()
    threading.Timer(0.3, release.set).start()
    bad = {**HASH, "store": {"provider": "no-such-store"}}
    with pytest.raises(ConfigError, match="no-such-store"):
        Memory(tmp_path / "t", config=bad, warm=True)
    assert done == ["loaded", "loaded"]  # joined before the error went out
