"""Throughput sections of ``lightmem bench perf`` (issue 13), each measured in one run:

* ``embed_threads``: the embedder's texts/s on one LoCoMo conversation's turns with 1 and 2
  batches embedded at once (MiniLM only);
* ``ingest_bulk``: no-LLM ingest of that conversation into a fresh store, one ``add`` per
  session (how ``lightmem ingest`` added before) and one ``add`` for the whole
  conversation (one transaction, one embedding pass: how it adds now);
* ``concurrent_extraction``: the scripted LLM made slow (``delay_s`` per call, a stand-in
  for a real endpoint), one extraction batch per owner, ``flush()`` timed for 1 and for 8
  owners: with owners extracted concurrently the 8 take about the time of 1.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from lightmem.datasets import Conversation
from lightmem.embedders.base import Embedder
from lightmem.llm.base import ChatMessage
from lightmem.llm.scripted import ScriptedLLM
from lightmem.memory import Memory
from lightmem.registry import build
from lightmem_bench.fake import plausible_reply
from lightmem_bench.systems.base import message, sessions

OWNERS = (1, 8)


def _config(emb_section: dict[str, Any], llm: str, **extra: Any) -> dict[str, Any]:
    return {
        "embedder": emb_section,
        "llm": {"provider": llm},
        "compressor": {"provider": "none"},
        **extra,
    }


def thread_scaling(emb_section: dict[str, Any], conv: Conversation) -> dict[str, Any] | None:
    if emb_section.get("provider") != "minilm":
        return None
    from lightmem.config import MemoryConfig

    texts = [f"{t.speaker or t.role}: {t.content}" for t in conv.turns if t.content.strip()]
    out: dict[str, Any] = {"texts": len(texts)}
    for threads in (1, 2):
        section = {"provider": "minilm", "options": {"threads": threads}}
        model: Embedder = build(
            "embedder", MemoryConfig.load({"embedder": section}).embedder, Embedder
        )
        model.embed(texts[:8])  # load the model
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            model.embed(texts)
            runs.append(time.perf_counter() - start)
        model.close()
        median = sorted(runs)[1]
        out[f"threads_{threads}_texts_per_s"] = round(len(texts) / median, 1)
    return out


def ingest_bulk(emb_section: dict[str, Any], conv: Conversation) -> dict[str, Any]:
    by_session = [
        (sid, [message(t) | {"session_id": sid} for t in turns if t.content.strip()])
        for sid, turns in sessions(conv)
    ]
    everything = [m for _, ms in by_session for m in ms]
    out: dict[str, Any] = {"turns": len(everything)}
    with tempfile.TemporaryDirectory(prefix="lightmem-perf-") as tmp:
        for name in ("per_session_adds", "one_add"):
            memory = Memory(Path(tmp) / name, config=_config(emb_section, "none"))
            try:
                memory.embedder.embed(["warm up"])  # model loading is not ingest
                start = time.perf_counter()
                if name == "one_add":
                    memory.add(everything, user_id="bulk")
                else:
                    for _, messages in by_session:
                        if messages:
                            memory.add(messages, user_id="bulk")
                memory.flush(user_id="bulk")
                seconds = time.perf_counter() - start
            finally:
                memory.close()
            out[name] = {
                "seconds": round(seconds, 2),
                "turns_per_s": round(len(everything) / max(seconds, 1e-9), 1),
            }
    out["ratio"] = round(out["one_add"]["turns_per_s"] / out["per_session_adds"]["turns_per_s"], 2)
    return out


def concurrent_extraction(
    emb_section: dict[str, Any], conv: Conversation, *, delay_s: float = 1.0
) -> dict[str, Any]:
    turns = [message(t) for _, ts in sessions(conv)[:1] for t in ts if t.content.strip()]
    most = max(OWNERS)

    def slow(messages: list[ChatMessage], schema: dict[str, Any] | None) -> Any:
        time.sleep(delay_s)
        return plausible_reply(messages, schema)

    out: dict[str, Any] = {
        "delay_s": delay_s,
        "max_llm_calls": most,
        "turns_per_owner": len(turns),
        "note": "scripted LLM sleeping delay_s per call; one extraction batch per owner; "
        "flush() of all owners timed",
    }
    with tempfile.TemporaryDirectory(prefix="lightmem-perf-") as tmp:
        for n in OWNERS:
            config = _config(
                emb_section,
                "scripted",
                buffer={"sensory_tokens": 100_000, "shortterm_tokens": 100_000},
                worker={"max_llm_calls": most},
            )
            memory = Memory(Path(tmp) / f"owners-{n}", config=config)
            try:
                assert isinstance(memory.llm, ScriptedLLM)
                memory.llm.respond_with(slow)
                for i in range(n):
                    memory.add(turns, user_id=f"owner-{i}")
                start = time.perf_counter()
                flushed = memory.flush()
                seconds = time.perf_counter() - start
            finally:
                memory.close()
            out[f"owners_{n}"] = {
                "seconds": round(seconds, 2),
                "batches": flushed.batches_done,
                "failed_batches": len(flushed.failed_batches),
            }
    one, many = out[f"owners_{OWNERS[0]}"]["seconds"], out[f"owners_{most}"]["seconds"]
    out["ratio"] = round(many / max(one, 1e-9), 2)
    return out
