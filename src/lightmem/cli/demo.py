"""``demo``: the whole pipeline on one conversation, stage by stage, with its questions.

Opens a fresh temporary store (unless ``--store`` is given, so repeated demos never mix),
says which LLM mode the Memory chose, adds the shipped demo conversation (or ``--data``),
flushes, consolidates, then shows for a few questions the top-3 memories with their source
turns and whether a source is gold evidence; finally LLM usage and stage timings.
"""

from __future__ import annotations

import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from lightmem.cli import render
from lightmem.cli.ingest import (
    Format,
    add_conversation,
    check_fresh,
    flush_conversations,
    progress_bar,
)
from lightmem.cli.state import QuietOpt, out, state
from lightmem.datasets import Conversation, Dataset, Question, load_dataset
from lightmem.errors import LightMemError
from lightmem.memory import Memory

TOP_K = 3
LOCOMO_CATEGORIES = {
    "1": "multi-hop",
    "2": "temporal",
    "3": "open-domain",
    "4": "single-hop",
    "5": "adversarial",
}


def demo(
    ctx: typer.Context,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="A dataset file instead of the shipped demo conversation."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", "-f", help="Layout of --data.")] = (
        Format.locomo
    ),
    sample: Annotated[
        str | None, typer.Option("--sample", help="Which conversation (default: the first).")
    ] = None,
    questions: Annotated[
        int, typer.Option("--questions", "-n", min=0, help="How many questions to ask.")
    ] = 5,
    quiet: QuietOpt = False,
) -> None:
    """Run the pipeline on a demo conversation and show what retrieval finds."""
    st = state(ctx)
    console = out()
    steps: dict[str, float] = {}
    path = st.store if st.store is not None else Path(tempfile.mkdtemp(prefix="lightmem-demo-"))
    console.rule("LightMem demo")
    fresh = " (a fresh temporary directory)" if st.store is None else ""
    console.print(f"store: {path}{fresh}", markup=False)
    with st.open(path) as mem:
        console.print(mem.describe_llm(), style="bold", markup=False)
        mode = mem.llm_mode

        with _stage(console, steps, 1, "load", "the conversation and its questions"):
            dataset = _load(data, fmt, sample)
            conv = dataset.conversations[0]
            check_fresh(mem, [conv])
        picked = sorted(conv.questions, key=lambda q: not q.evidence)[:questions]
        _done(
            console,
            steps,
            "load",
            f"{dataset.name} conversation {conv.sample_id!r}: "
            f"{len(conv.session_ids)} sessions, {len(conv.turns)} turns; "
            f"{_asking(len(picked), len(conv.questions))}",
        )

        with (
            _stage(console, steps, 2, "add", "sensory memory: compression, topic segments"),
            progress_bar(quiet) as progress,
        ):
            task = progress.add_task("adding turns", total=len(conv.turns))
            counts = add_conversation(mem, conv, progress, task)
        _done(
            console,
            steps,
            "add",
            f"{counts.turns} turns stored in {counts.sessions} "
            f"sessions, {counts.skipped_turns} empty turns skipped",
        )

        with (
            _stage(console, steps, 3, "flush", "short-term memory: extraction"),
            progress_bar(quiet) as progress,
        ):
            failed = flush_conversations(mem, [counts], progress).failed_batches
        n_entries = len(mem.get_all(user_id=conv.sample_id))
        _done(console, steps, "flush", f"{n_entries} memories, {len(failed)} failed batches")

        with _stage(console, steps, 4, "consolidate", "long-term memory: sleep-time update"):
            merged = mem.consolidate(user_id=conv.sample_id)
        _done(
            console,
            steps,
            "consolidate",
            f"examined {merged.examined}, updated "
            f"{merged.updated}, deleted {merged.deleted}, merged {merged.merged}, "
            f"failed {len(merged.failed)}",
        )

        with _stage(console, steps, 5, "search", f"top {TOP_K} hits per question"):
            found = sum(
                _ask(console, mem, conv, q, i, dataset.name) for i, q in enumerate(picked, start=1)
            )
        _done(
            console,
            steps,
            "search",
            f"gold evidence among the top-{TOP_K} sources for {found} of {len(picked)} questions",
        )

        usage = mem.usage()
        console.rule("Cost")
        console.print(render.usage_table(usage))
        if usage.timings:
            console.print(render.timings_table(usage.timings, "Non-LLM stages (s)"))
        console.print(render.timings_table(steps, "Demo steps (s)"))

    _suggest(console, path, conv.sample_id, picked[0].question if picked else "QUERY", mode)


def _asking(asked: int, given: int) -> str:
    if asked == given:
        return f"asking its {given} questions"
    return f"asking {asked} of its {given} questions (--questions N for more)"


def command_name() -> str:
    """How to run ``lightmem`` again from this shell, pasted as is: ``lightmem`` when the
    one on PATH is this one, else the path this run used (``.venv/bin/lightmem`` after
    ``make demo``, whose venv is not activated)."""
    ran = Path(sys.argv[0])
    if ran.name != "lightmem":  # python -m lightmem, or a test runner
        return "lightmem"
    found = shutil.which("lightmem")
    if found is not None and Path(found).resolve() == ran.resolve():
        return "lightmem"
    if not ran.is_absolute():
        return shlex.quote(str(ran))
    try:
        return shlex.quote(str(ran.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(ran))


def _suggest(console: Console, path: Path, user_id: str, question: str, mode: str) -> None:
    """What to run next, with the store and user of this run filled in."""
    cmd = command_name()
    query, store, user = shlex.quote(question), shlex.quote(str(path)), shlex.quote(user_id)
    lines = [
        f"The store is kept at {path}; explore it with:",
        f"  {cmd} --store {store} search {query} --user {user}",
        f"  {cmd} --store {store} context {query} --user {user} --budget 500",
    ]
    if cmd != "lightmem":
        lines.append(f"(`lightmem` is {cmd}: activate the venv with `source .venv/bin/activate`)")
    if mode == "none":
        lines += [
            "This ran in no-LLM mode. For LLM extraction (facts, not turns), point LightMem "
            "at any OpenAI-compatible endpoint:",
            "  OPENAI_BASE_URL=http://localhost:11434/v1 LIGHTMEM_LLM_MODEL=qwen2.5:7b "
            f"{cmd} demo   # e.g. Ollama",
            f"  OPENAI_API_KEY=sk-... {cmd} demo                   # OpenAI",
        ]
    console.print("\n".join(lines), markup=False, soft_wrap=True)


def _load(data: Path | None, fmt: Format, sample: str | None) -> Dataset:
    ids = [sample] if sample is not None else None
    if data is not None:
        return load_dataset(fmt.value, data, ids=ids)
    resource = files("lightmem") / "data" / "demo.json"
    if not resource.is_file():
        raise LightMemError(
            "the shipped demo conversation (lightmem/data/demo.json) is missing from this "
            "installation; reinstall lightmem, or pass --data FILE --format FORMAT"
        )
    with as_file(resource) as shipped:
        return load_dataset("locomo", shipped, ids=ids)


def _ask(
    console: Console, mem: Memory, conv: Conversation, q: Question, number: int, name: str
) -> bool:
    """Print one question with its top hits; True if a retrieved source is gold evidence."""
    category = LOCOMO_CATEGORIES.get(q.category, q.category) if name == "locomo" else q.category
    title = Text(f"Q{number} ", style="bold")
    title.append(f"({category}) ", style="dim")
    title.append(q.question)
    console.print(title)
    answer = q.answer if q.answer is not None else q.adversarial_answer
    console.print(Text(f"gold answer: {answer if answer is not None else '-'}", style="dim"))
    hits = mem.search(q.question, user_id=conv.sample_id, limit=TOP_K)
    gold = set(q.evidence)
    if hits:
        console.print(render.hits_list(hits, gold))
    else:
        console.print("no memories found", style="dim")
    retrieved = {t.ref for h in hits for t in h.sources}
    evidence = Text("gold evidence: ")
    for i, ref in enumerate(q.evidence):
        evidence.append(", " if i else "")
        evidence.append(
            f"{ref} ✓" if ref in retrieved else ref, style="green" if ref in retrieved else ""
        )
    if not q.evidence:
        evidence.append("none given", style="dim")
    console.print(evidence)
    console.print()
    return bool(gold & retrieved)


@contextmanager
def _stage(
    console: Console, steps: dict[str, float], number: int, name: str, what: str
) -> Iterator[None]:
    """Announce a step before it runs (progress bars are off when not on a terminal)."""
    title = Text(f"[{number}/5] {name}", style="bold cyan")
    title.append(f" ({what})", style="dim")
    console.print(title)
    start = time.perf_counter()
    try:
        yield
    finally:
        steps[name] = time.perf_counter() - start


def _done(console: Console, steps: dict[str, float], name: str, detail: str) -> None:
    console.print(Text(f"      {detail} ({steps[name]:.2f}s)"))
