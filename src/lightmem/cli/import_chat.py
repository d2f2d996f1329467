"""``import-chat``: add a person's chat history (a ChatGPT, Claude, WhatsApp or Telegram export)
to one user, a session per conversation or per stretch of chat, each message keeping its
time, its speaker and a stable ``ref``; a re-import adds nothing. The work is
:func:`lightmem.chats.import_chat`; this module reads options and prints counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import Progress
from rich.table import Table
from rich.text import Text

from lightmem import chats
from lightmem.cli.ingest import progress_bar
from lightmem.cli.state import (
    AgentOpt,
    JsonOpt,
    QuietOpt,
    UserOpt,
    emit_json,
    need_scope,
    note,
    out,
    state,
    warn,
    warn_batches,
)
from lightmem.timeutil import format_timestamp

#: sessions listed by a dry run's table (all of them are in the --json output)
SHOWN_SESSIONS = 20


def import_chat(
    ctx: typer.Context,
    source: Annotated[
        Path, typer.Argument(metavar="FILE", help="The export file, or the ZIP holding it.")
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format", "-f", metavar="|".join(chats.FORMATS), help="The service it came from."
        ),
    ],
    user: UserOpt = None,
    agent: AgentOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be added; write nothing.")
    ] = False,
    gap_hours: Annotated[
        float,
        typer.Option(
            "--gap-hours", help="WhatsApp/Telegram: a silence this long starts a new session."
        ),
    ] = chats.DEFAULT_GAP_HOURS,
    quiet: QuietOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Import a ChatGPT, Claude, WhatsApp or Telegram chat export (a re-import adds nothing)."""
    need_scope(user, agent)
    export = chats.read_chat(source, fmt)  # a file that cannot be read makes no store
    with (
        state(ctx).open(warm=False if dry_run else "batches") as mem,
        progress_bar(quiet or dry_run) as bar,
    ):
        result = chats.import_chat(
            mem,
            export,
            format=fmt,
            user_id=user,
            agent_id=agent,
            dry_run=dry_run,
            progress=_reporter(bar),
            gap_hours=gap_hours,
        )
    if as_json:
        emit_json(result.as_dict())
        return
    console = out()
    console.print(counts_table(result))
    if dry_run:
        console.print(sessions_table(result))
        note("dry run: nothing was written")
    elif result.added:
        note("the turns are buffered; `lightmem flush` extracts memories from them now")
    warn_batches(result.failed_batches, result.waiting_batches)
    for reason in result.deferred[:3]:
        warn(f"processing deferred (the turns are stored): {reason}")


def _reporter(bar: Progress) -> chats.ProgressFn:
    task = bar.add_task("importing sessions", total=None)
    reported = 0

    def report(done: int, total: int) -> None:
        nonlocal reported
        bar.update(task, total=total)
        bar.advance(task, done - reported)
        reported = done

    return report


def counts_table(result: chats.ChatImportResult) -> Table:
    table = Table(title=f"{result.format} import" + (" (dry run)" if result.dry_run else ""))
    table.add_column("")
    table.add_column("count", justify="right")
    span = f"{format_timestamp(result.first) or '-'} .. {format_timestamp(result.last) or '-'}"
    rows = [
        ("chats", str(result.chats)),
        ("sessions", str(len(result.sessions))),
        ("sessions with new messages", str(result.sessions_added)),
        ("messages", str(result.messages)),
        ("would add" if result.dry_run else "added", str(result.added)),
        ("already present", str(result.already_present)),
        *((f"skipped: {k}", str(n)) for k, n in sorted(result.skipped.items())),
        ("time span", span),
    ]
    if result.repaired:
        rows.append(("texts repaired (U+FFFD)", str(result.repaired)))
    for name, value in rows:
        table.add_row(name, value)
    return table


def sessions_table(result: chats.ChatImportResult) -> Table:
    table = Table(title="sessions")
    for name in ("session", "title", "start"):
        table.add_column(name)
    for name in ("messages", "new"):
        table.add_column(name, justify="right")
    for s in result.sessions[:SHOWN_SESSIONS]:
        table.add_row(
            Text(s.session_id),
            Text(s.title or ""),
            format_timestamp(s.start) or "",
            str(s.messages),
            str(s.new),
        )
    hidden = len(result.sessions) - SHOWN_SESSIONS
    if hidden > 0:
        table.add_row(f"... and {hidden} more (all in --json)", "", "", "", "")
    return table
