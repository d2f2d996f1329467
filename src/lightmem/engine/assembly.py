"""The components of a memory, built from its config: every backend through the registry,
the store opened in its directory and checked against the embedder, the config saved."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightmem.config import BackendSection, MemoryConfig, lightmem_home
from lightmem.embedders.base import Embedder, Warm
from lightmem.embedders.images import ImageEmbedder
from lightmem.engine import storedir
from lightmem.llm.base import LLM
from lightmem.registry import build, build_llm
from lightmem.sensory.compressors.base import Compressor
from lightmem.sensory.segmenters.base import Segmenter
from lightmem.stores.base import Store

log = logging.getLogger("lightmem.engine")


@dataclass(slots=True)
class Components:
    """What a memory is made of; the store is open."""

    path: Path
    config: MemoryConfig
    embedder: Embedder
    llm: LLM
    compressor: Compressor
    segmenter: Segmenter
    image_embedder: ImageEmbedder | None
    store: Store
    #: the thread loading the embedder's model (``warm``), joined before it is closed
    warming: threading.Thread | None = None

    @property
    def llm_mode(self) -> str:
        """``openai``, ``local``, ``scripted`` ... or ``none`` (no-LLM mode)."""
        return llm_mode(self.llm)

    def describe_llm(self) -> str:
        """One line for every surface that names the mode (demo, stats, serve, ingest)."""
        if not self.llm.available:
            return (
                "no-LLM mode: no LLM endpoint is configured; memories are the turns, linked "
                "to their topic segments. For LLM extraction set OPENAI_BASE_URL (any "
                "OpenAI-compatible endpoint) and/or OPENAI_API_KEY"
            )
        line = f"LLM: {self.llm_mode} ({self.llm.model_name})"
        caveat = self.llm.caveat
        return f"{line}: {caveat}" if caveat else line

    def describe_embedder(self) -> str:
        """The embedder, for the same surfaces: a test fake says it is one."""
        line = f"embedder: {self.embedder.model_id} ({self.embedder.dim} dimensions)"
        if self.config.embedder.provider == "hash":
            line += "; a deterministic test fake: search matches words, not meaning"
        return line

    def close(self) -> None:
        self.store.close()
        self.llm.close()
        if self.warming is not None:
            self.warming.join()  # else it could load the model into a closed embedder
        self.embedder.close()


def assemble(
    path: str | Path | None,
    config: MemoryConfig | dict[str, Any] | str | Path | None = None,
    *,
    warm: bool | Warm = False,
    **overrides: Any,
) -> Components:
    """Open (or create) the store at ``path`` (default: ``LIGHTMEM_HOME``) with ``config``
    and ``overrides`` laid over the config saved beside the store (they change the keys they
    name; a whole ``MemoryConfig`` replaces it). With ``warm`` the
    embedder's model loads on a thread while the rest is built and the store opens: what
    it needs for ``"queries"``, for ``"batches"`` of many texts, or ``"all"`` (``True``)."""
    where = Path(path) if path is not None else lightmem_home()
    saved = storedir.saved_config(where)
    cfg = MemoryConfig.load(config, base=saved, **overrides)
    # what is saved leaves the environment out: LIGHTMEM_RETRIEVAL__LIMIT=2 for one search
    # would otherwise be the store's limit from then on
    kept = MemoryConfig.load(config, base=saved, env={}, **overrides)
    embedder: Embedder = build("embedder", cfg.embedder, Embedder)
    warming = start_warming(embedder, "all" if warm is True else warm) if warm else None
    try:
        return _open(where, cfg, embedder, warming, kept)
    except BaseException:
        if warming is not None:  # no load left running for an embedder nobody will use
            warming.join()
        raise


def _open(
    where: Path,
    cfg: MemoryConfig,
    embedder: Embedder,
    warming: threading.Thread | None,
    kept: MemoryConfig,
) -> Components:
    """The other backends built and the store opened, for :func:`assemble` (``kept``: the
    config to save beside it)."""
    llm = build_llm(cfg.llm)
    compressor: Compressor = build("compressor", cfg.compressor, Compressor)
    segmenter: Segmenter = build("segmenter", segmenter_section(cfg, llm), Segmenter)
    image_embedder = (
        None
        if cfg.image_embedder.provider == "none"
        else build("image_embedder", cfg.image_embedder, ImageEmbedder)
    )
    storedir.make_store_dir(where)  # after the backends: a bad config leaves no directory
    store: Store = build("store", storedir.store_section(cfg, where), Store)
    store.open(embedder.dim)
    try:
        storedir.check_embedder(store, embedder.model_id)
        storedir.check_llm_mode(store, cfg.llm.provider, llm_mode(llm))
        storedir.save_config(kept, where)
    except BaseException:
        store.close()
        raise
    return Components(
        where, cfg, embedder, llm, compressor, segmenter, image_embedder, store, warming
    )


def start_warming(embedder: Embedder, what: Warm = "all") -> threading.Thread:
    """Start :meth:`Embedder.warm` of ``what`` on a thread (not a daemon: the process waits
    for a load under way rather than ending inside it). A failure is left to the first
    ``embed``, which raises it where the caller sees it."""

    def load() -> None:
        try:
            embedder.warm(what)
        except Exception as exc:  # noqa: BLE001 - the first embed raises it to the caller
            log.debug("embedder warm-up failed: %s", type(exc).__name__)

    thread = threading.Thread(target=load, name="lightmem-embedder-warm")
    thread.start()
    return thread


def llm_mode(llm: LLM) -> str:
    """``openai``, ``local``, ``scripted`` ... or ``none`` (no-LLM mode)."""
    return "none" if not llm.available else llm.mode


def segmenter_section(cfg: MemoryConfig, llm: LLM) -> BackendSection:
    """``auto``: attention + similarity (``combined``) when an LLM extracts, since segments
    then become extraction batches; ``similarity`` without one, where segments only label
    topics and the attention pass (~40 turns/s on 2 cores) would cost ingest for nothing."""
    section = cfg.segmenter
    if section.provider != "auto":
        return section
    return section.model_copy(update={"provider": "combined" if llm.available else "similarity"})
