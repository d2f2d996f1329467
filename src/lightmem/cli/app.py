"""The ``lightmem`` command: global options, the command table, and ``main``.

``main`` is the one place where LightMem errors become messages: a red line on stderr and
exit code 2 for bad input, bad config or an unknown id, 1 for everything else. A traceback
is shown only with ``--verbose``.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Sequence
from importlib.metadata import entry_points
from pathlib import Path
from typing import Annotated

import typer

from lightmem.cli import commands, entries, forget, grants, serve
from lightmem.cli.demo import demo
from lightmem.cli.doctor import doctor
from lightmem.cli.import_chat import import_chat
from lightmem.cli.ingest import ingest
from lightmem.cli.keys import keys_app
from lightmem.cli.migrate import migrate
from lightmem.cli.proxy import proxy
from lightmem.cli.state import State, console, state
from lightmem.cli.worker import worker
from lightmem.errors import ConfigError, ConflictError, InputError, LightMemError, NotFoundError

#: The entry-point group of command plugins (simonw/llm's ``register_commands`` idea).
COMMANDS_GROUP = "lightmem.commands"
#: Errors the caller can fix (their input, their config, an id, ids or a key the store
#: already holds): exit code 2, like usage errors.
CALLER_ERRORS = (InputError, ConfigError, NotFoundError, ConflictError)

app = typer.Typer(
    name="lightmem",
    help="LightMem: long-term memory for LLM applications and agents.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # locals hold user data and keys
    add_completion=False,
)


@app.callback()
def _options(
    ctx: typer.Context,
    store: Annotated[
        Path | None,
        typer.Option("--store", help="Store directory (default: $LIGHTMEM_HOME or ~/.lightmem)."),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Config file (TOML, YAML or JSON) for the store."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log progress; tracebacks on errors.")
    ] = False,
    llm: Annotated[
        str | None,
        typer.Option(
            "--llm",
            metavar="PROVIDER",
            help="The LLM: none (no-LLM mode), openai, local, auto... Saved with the store's "
            "config; the way to change a store's mode.",
        ),
    ] = None,
) -> None:
    st = state(ctx)
    st.store, st.config, st.verbose, st.llm = store, config, verbose, llm
    if verbose:
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")


for _name, _command in (
    ("add", commands.add),
    ("ingest", ingest),
    ("flush", commands.flush),
    ("search", commands.search),
    ("context", commands.context),
    ("list", entries.list_),
    ("get", entries.get),
    ("update", entries.update),
    ("delete", entries.delete),
    ("history", entries.history),
    ("supersede", entries.supersede),
    ("chain", entries.chain),
    ("forget", forget.forget),
    ("pin", forget.pin),
    ("ttl", forget.ttl),
    ("grant", grants.grant),
    ("grants", grants.grants),
    ("revoke", grants.revoke),
    ("consolidate", commands.consolidate),
    ("worker", worker),
    ("stats", commands.stats),
    ("doctor", doctor),
    ("export", commands.export),
    ("import", commands.import_),
    ("import-chat", import_chat),
    ("serve", serve.serve),
    ("mcp", serve.mcp),
    ("proxy", proxy),
    ("migrate", migrate),
    ("demo", demo),
):
    app.command(_name)(_command)


app.add_typer(keys_app, name="keys")


def _mount_plugins() -> None:
    """Commands of installed plugins: each ``lightmem.commands`` entry point is a function
    ``register(app)`` that adds its commands (``lightmem-bench`` adds ``lightmem bench``)."""
    for ep in entry_points(group=COMMANDS_GROUP):
        ep.load()(app)


_mount_plugins()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI on ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    st = State()
    try:
        typer.main.get_command(app).main(
            args=list(argv) if argv is not None else None, prog_name="lightmem", obj=st
        )
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except LightMemError as exc:
        if st.verbose:
            traceback.print_exception(exc)
        message = str(exc).replace("\n", " ") or type(exc).__name__
        console(stderr=True, soft_wrap=True).print(f"error: {message}", style="red", markup=False)
        return 2 if isinstance(exc, CALLER_ERRORS) else 1
    return 0
