"""What every command shares: the global options, opening the store, and the two consoles.

Results go to stdout; progress, notes and errors go to stderr, so ``--json`` output can be
piped. Nothing here logs user data.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from lightmem.cli.render import EscapeControls, json_text
from lightmem.config import MemoryConfig, lightmem_home
from lightmem.engine.storedir import CONFIG_FILE
from lightmem.errors import InputError, NotFoundError
from lightmem.memory import Memory


@dataclass(slots=True)
class State:
    """The global options, set by the app callback and read by every command."""

    store: Path | None = None  # None: LIGHTMEM_HOME (the demo uses a fresh temporary store)
    config: Path | None = None
    verbose: bool = False
    llm: str | None = None  # --llm: the LLM provider chosen for this run (None: the config's)

    def open(self, path: Path | None = None, *, existing: bool = False, **overrides: Any) -> Memory:
        """The store at ``path`` (default: ``--store``, else ``LIGHTMEM_HOME``); with
        ``existing`` (a command that reads or changes what is there) only a store that
        exists: a mistyped ``--store`` was made a new, empty store that found nothing."""
        where = path if path is not None else self.store
        if existing:
            folder = Path(where) if where is not None else lightmem_home()
            if not (folder / CONFIG_FILE).is_file():
                MemoryConfig.load(self.config, **self.overrides())  # a bad one said first
                raise NotFoundError(
                    f"no store at {folder}: check --store (or LIGHTMEM_HOME); "
                    "`lightmem add` or `lightmem ingest` creates one"
                )
        return Memory(where, config=self.config, **self.overrides(), **overrides)

    def overrides(self) -> dict[str, Any]:
        """The config the global options set (``--llm``)."""
        return {"llm": self.llm} if self.llm is not None else {}


def state(ctx: typer.Context) -> State:
    return ctx.ensure_object(State)


def out() -> Console:
    """The stdout console (looked up per call, so redirected streams are honoured)."""
    return console()


def err() -> Console:
    return console(stderr=True)


def console(*, stderr: bool = False, soft_wrap: bool = False) -> Console:
    """A console that shows terminal controls in user text escaped, never raw."""
    made = Console(stderr=stderr, soft_wrap=soft_wrap, highlight=False)
    made.push_render_hook(EscapeControls())
    return made


def need_scope(user: str | None, agent: str | None, instead: str | None = None) -> None:
    """The CLI's wording of the library's rule: a scope needs a user and/or an agent
    (``instead``: what the command takes in their place, said first)."""
    if user is None and agent is None:
        either = f"{instead}, or " if instead else ""
        raise InputError(f"give {either}--user USER and/or --agent AGENT")


def emit_json(data: Any) -> None:
    """Write ``data`` as indented JSON to stdout (never through rich, which would restyle it)."""
    sys.stdout.write(json_text(data, indent=2) + "\n")
    sys.stdout.flush()


def note(message: str) -> None:
    """A dim informational line on stderr (no rich markup is read from ``message``)."""
    err().print(message, style="dim", markup=False)


def warn(message: str) -> None:
    err().print(message, style="yellow", markup=False)


def warn_batches(failed: list[str], waiting: list[str] | None = None) -> None:
    """Say which extraction batches did not run: failed, or waiting for the LLM endpoint."""
    if failed:
        warn(
            f"{len(failed)} extraction batches failed; their turns stay buffered and the next "
            "flush retries them (see `lightmem stats`)"
        )
    if waiting:
        warn(
            f"{len(waiting)} extraction batches wait for the LLM endpoint, which cannot be "
            "reached; their turns are stored and `lightmem flush` extracts them once it answers"
        )


# -- options shared by several commands ------------------------------------------------------
UserOpt = Annotated[
    str | None, typer.Option("--user", "-u", help="User id (at least one of --user/--agent).")
]
AgentOpt = Annotated[str | None, typer.Option("--agent", "-a", help="Agent id.")]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON (the shapes are in docs/cli-json.md).")
]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")]
