"""``ingest``: load a benchmark file and add each conversation to its own user.

Each LoCoMo sample / LongMemEval instance / JSONL user becomes ``user_id = sample_id``; its
turns are added ``CHUNK`` at a time (each ``add`` one transaction and one embedding pass),
so the progress bar moves as they are stored, each message keeping its session and carrying
the dataset's own id as ``ref``, so search results point back at ``dia_id``s. The demo uses
the same functions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from lightmem.cli.state import JsonOpt, QuietOpt, emit_json, err, out, state, warn_batches
from lightmem.datasets import Conversation, Dataset, DatasetTurn, load_dataset
from lightmem.errors import InputError
from lightmem.memory import FlushResult, Memory
from lightmem.tokens import warm_in_background

#: Turns per ``add`` while ingesting: the progress bar's step.
CHUNK = 256


class Format(StrEnum):
    locomo = "locomo"
    longmemeval = "longmemeval"
    jsonl = "jsonl"


@dataclass(slots=True)
class SampleCounts:
    sample_id: str
    sessions: int
    turns: int  # turns added
    skipped_turns: int  # empty turns (counted as the dataset quirk ``empty_turn``), not added
    entries: int = 0


class LoggedProgress(Progress):
    """Progress for a stderr that is not a terminal (a log file, CI): a plain line per task
    at most every ``every_s`` seconds and when it completes, instead of a live bar."""

    def __init__(self, *columns: Any, every_s: float = 5.0, **kwargs: Any) -> None:
        super().__init__(*columns, **kwargs)
        self.every_s = every_s
        self._said: dict[TaskID, float] = {}

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        task = self._tasks[task_id]
        now = time.monotonic()
        done = task.total is not None and task.completed >= task.total
        if done or now - self._said.get(task_id, task.start_time or now) >= self.every_s:
            self._said[task_id] = now
            total = f"/{task.total:g}" if task.total is not None else ""
            self.console.print(
                f"{task.description}: {task.completed:g}{total} ({task.elapsed or 0:.0f}s)",
                markup=False,
                highlight=False,
            )


def progress_bar(quiet: bool) -> Progress:
    """A progress display on stderr: a live bar on a terminal, a line every few seconds
    otherwise (so a redirected run is not silent for minutes); nothing with --quiet."""
    console = err()
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    if quiet or console.is_terminal:
        return Progress(*columns, TimeElapsedColumn(), console=console, disable=quiet)
    return LoggedProgress(*columns, console=console, disable=True)


def check_fresh(mem: Memory, conversations: list[Conversation]) -> None:
    """Refuse, before writing anything, to add a conversation twice to the same user."""
    taken = [
        c.sample_id for c in conversations if mem.turns(user_id=c.sample_id, include_forgotten=True)
    ]
    if taken:
        raise InputError(
            f"the store at {mem.path} already holds turns of user(s) {', '.join(taken)}; "
            "ingest into a new --store (adding them again would duplicate every turn)"
        )


def add_conversation(
    mem: Memory, conv: Conversation, progress: Progress, task: TaskID
) -> SampleCounts:
    """Add one conversation's turns to user ``conv.sample_id``, ``CHUNK`` turns per ``add``
    (each message keeps its own session and timestamp; a turn without one takes its
    session's first), advancing ``task`` as each chunk is stored."""
    sessions: dict[str, list[DatasetTurn]] = {}
    for turn in conv.turns:
        sessions.setdefault(turn.session_id, []).append(turn)
    counts = SampleCounts(conv.sample_id, len(sessions), 0, 0)
    messages: list[dict[str, Any]] = []
    for session_id, turns in sessions.items():
        first = next((t.timestamp for t in turns if t.timestamp is not None), None)
        kept = [_message(t, session_id, first) for t in turns if t.content.strip()]
        counts.skipped_turns += len(turns) - len(kept)
        messages += kept
    progress.advance(task, counts.skipped_turns)
    for start in range(0, len(messages), CHUNK):
        chunk = messages[start : start + CHUNK]
        mem.add(chunk, user_id=conv.sample_id)
        counts.turns += len(chunk)
        progress.advance(task, len(chunk))
    return counts


def flush_conversations(mem: Memory, counts: list[SampleCounts], progress: Progress) -> FlushResult:
    """Flush each ingested user: what was extracted, what failed, what waits for the LLM."""
    total = FlushResult()
    task = progress.add_task("extracting", total=len(counts))
    for c in counts:
        total.add(mem.flush(user_id=c.sample_id))
        progress.advance(task)
    return total


def ingest(
    ctx: typer.Context,
    source: Annotated[Path, typer.Argument(metavar="FILE", help="The dataset file.")],
    fmt: Annotated[Format, typer.Option("--format", "-f", help="The file's layout.")],
    samples: Annotated[
        list[str] | None,
        typer.Option("--sample", help="Only this sample / question id (repeatable)."),
    ] = None,
    no_flush: Annotated[
        bool, typer.Option("--no-flush", help="Leave the last turns buffered.")
    ] = False,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a LoCoMo, LongMemEval or JSONL file, each conversation to its own user."""
    warm_in_background()  # the token counter loads while the file is read
    dataset = load_dataset(fmt.value, source, ids=samples or None)
    flushed = FlushResult()
    with state(ctx).open(warm="batches") as mem:
        check_fresh(mem, dataset.conversations)
        with progress_bar(quiet) as progress:
            counts = [
                add_conversation(
                    mem, conv, progress, progress.add_task(conv.sample_id, total=len(conv.turns))
                )
                for conv in dataset.conversations
            ]
            if not no_flush:
                flushed = flush_conversations(mem, counts, progress)
        for c in counts:
            c.entries = len(mem.get_all(user_id=c.sample_id))
        llm_mode, llm = mem.llm_mode, mem.describe_llm()
    failed = flushed.failed_batches
    if as_json:
        data = ingest_json(dataset, counts, llm_mode, flushed=not no_flush, failed=failed)
        data["waiting_batches"] = flushed.waiting_batches
        emit_json(data)
        return
    console = out()
    console.print(llm, markup=False)
    console.print(counts_table(counts))
    console.print(quirks_line(dataset), markup=False)
    warn_batches(failed, flushed.waiting_batches)


def ingest_json(
    dataset: Dataset,
    counts: list[SampleCounts],
    llm_mode: str,
    *,
    flushed: bool,
    failed: list[str],
) -> dict[str, Any]:
    return {
        "dataset": {"name": dataset.name, "path": dataset.path, "sha256": dataset.sha256},
        "llm_mode": llm_mode,
        "flushed": flushed,
        "samples": [
            {
                "sample_id": c.sample_id,
                "user_id": c.sample_id,
                "sessions": c.sessions,
                "turns": c.turns,
                "skipped_turns": c.skipped_turns,
                "entries": c.entries,
            }
            for c in counts
        ],
        "failed_batches": failed,
        "quirks": dict(dataset.quirks),
    }


def counts_table(counts: list[SampleCounts]) -> Table:
    table = Table()
    table.add_column("sample (user_id)")
    for name in ("sessions", "turns", "skipped", "entries"):
        table.add_column(name, justify="right")
    for c in counts:
        table.add_row(
            Text(c.sample_id),
            str(c.sessions),
            str(c.turns),
            str(c.skipped_turns),
            str(c.entries),
        )
    return table


def quirks_line(dataset: Dataset) -> str:
    if not dataset.quirks:
        return f"{dataset.name} quirks: none"
    listed = ", ".join(f"{name} {n}" for name, n in sorted(dataset.quirks.items()))
    return f"{dataset.name} quirks: {listed}"


def _message(turn: DatasetTurn, session_id: str, first: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": turn.role,
        "content": turn.content,
        "ref": turn.ref,
        "session_id": session_id,
    }
    if turn.speaker:
        message["speaker"] = turn.speaker
    timestamp = turn.timestamp if turn.timestamp is not None else first
    if timestamp is not None:
        message["timestamp"] = timestamp
    if turn.images:
        message["images"] = [{"url": i.url, "caption": i.caption} for i in turn.images]
    return message
