"""WhatsApp's "Export chat": the ``.txt`` file (``_chat.txt`` or ``WhatsApp Chat with X.txt``,
alone or in the ZIP).

A message starts a line with its date and time, then its sender::

    12/31/23, 9:41 PM - Alice: text          Android, 12-hour clock
    31/12/2023, 21:41 - Alice: text          Android, 24-hour clock
    [31.12.23, 21:41:05] Alice: text         iOS
    2023-12-31, 21:41 - Alice: text          year first

Dates are D/M/Y, M/D/Y or Y-M-D with ``/``, ``.`` or ``-``, 2- or 4-digit years (``23`` is
2023); seconds are optional; a (narrow) no-break space may precede AM/PM; the invisible
left-to-right mark (U+200E) may sit before the line or the text. A line that does not start a
message continues the previous one (a multi-line message). The day/month order is decided
once per file, see :func:`pick_order`. Times are kept as written (the phone's local time).

Every speaker is a person: role ``user``, the sender's name as ``name``. Skipped, by reason:
``system_line`` (lines without a sender, such as "Messages and calls are end-to-end
encrypted" or "Alice added Bob", and notices iOS writes under a sender with a leading U+200E,
such as missed calls), ``media`` (``<Media omitted>`` and its translations, ``image omitted``,
``<attached: ...>``, ``... (file attached)``, ``null`` for a view-once photo; a caption on the
following lines is kept instead), ``deleted`` ("This message was deleted", in several
languages), ``unavailable`` ("Waiting for this message"), ``empty``. The "<This message was
edited>" marker is removed.

WhatsApp gives messages no id, so a message's ``ref`` is a hash of its minute, its sender,
its text and how many identical messages came before it in the file: the same message in a
later, longer export (or one from another phone with other date settings) gets the same ref.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import pairwise

from lightmem.chats.base import Chat, ChatExport, ChatMessage, ChatParser, Tally, digest
from lightmem.errors import InputError

_SPACE = "[ \u00a0\u202f]"
MESSAGE_LINE = re.compile(
    r"^[\u200e\u200f\ufeff]*(?P<open>\[)?"
    r"(?P<a>\d{1,4})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4}),?" + _SPACE + "+"
    r"(?P<hour>\d{1,2})[:.](?P<minute>\d{2})(?:[:.](?P<second>\d{2}))?"
    r"(?:" + _SPACE + r"*(?P<ampm>[AaPp]\.?" + _SPACE + r"?[Mm]\.?))?"
    r"(?(open)\]" + _SPACE + "*|" + _SPACE + "+[-–]" + _SPACE + ")"
    r"(?P<rest>.*)$"
)
_SENDER = re.compile(r"(?P<name>[^:\"“”\n]{1,100}?):(?: (?P<text>.*))?", re.DOTALL)
#: Android's "<Media omitted>" in the languages it is most often exported in
_MEDIA_OMITTED = (
    "media omitted",
    "multimedia omitido",  # es
    "multimédia omitido",  # pt-PT
    "mídia oculta",  # pt-BR
    "médias omis",  # fr
    "medien ausgeschlossen",  # de
    "media omessi",  # it
    "media weggelaten",  # nl
    "без медиафайлов",  # ru
    "medya dahil edilmedi",  # tr
    "media tidak disertakan",  # id
)
_MEDIA = re.compile(
    r"[<‹](?:" + "|".join(_MEDIA_OMITTED) + r")[>›]|<attached: [^>]+>|.+ \(file attached\)"
    r"|(?:.*[ \u200e])?(?:image|video|audio|sticker|gif|document|contact card) omitted"
    r"|null",  # a view-once photo or video
    re.IGNORECASE,
)
_DELETED = re.compile(
    r"(?:this message was deleted|you deleted this message"
    r"|se eliminó este mensaje|eliminaste este mensaje"
    r"|esta mensagem foi apagada|mensagem apagada|você apagou esta mensagem"
    r"|ce message a été supprimé|vous avez supprimé ce message"
    r"|diese nachricht wurde gelöscht|du hast diese nachricht gelöscht"
    r"|questo messaggio è stato eliminato|hai eliminato questo messaggio)\.?",
    re.IGNORECASE,
)
#: a message the phone could not decrypt yet when the chat was exported
_WAITING = re.compile(r"waiting for this message\. this may take a while\.?", re.IGNORECASE)
_EDITED = re.compile(r"[\s\u200e]*<This message was edited>\s*$")
_MARKS = " \t\u200e\u200f"
EXAMPLE = "'12/31/23, 9:41 PM - Name: text' or '[31.12.23, 21:41:05] Name: text'"


@dataclass(slots=True)
class _Record:
    """The lines of one message (or system line) before its date is read."""

    line: int
    head: re.Match[str]
    lines: list[str] = field(default_factory=list)


class WhatsAppParser(ChatParser):
    name = "whatsapp"
    zip_members = ("_chat.txt", "*.txt")

    def parse(self, text: str, name: str) -> ChatExport:
        records = _records(text, name)
        order = pick_order(
            [(r.head["a"], r.head["b"], r.head["c"]) for r in records],
            twelve_hour=sum(bool(r.head["ampm"]) for r in records) * 2 > len(records),
            slashes=all(r.head["sep"] == "/" for r in records),
        )
        tally = Tally()
        seen: dict[str, int] = {}
        messages = [
            kept
            for r in records
            if (kept := _message(r, order, f"{name}, line {r.line}", tally, seen)) is not None
        ]
        return ChatExport(self.name, name, [Chat("whatsapp", None, messages, split=True)], tally)


def _records(text: str, name: str) -> list[_Record]:
    """Cut the file into messages: a header line and its continuation lines."""
    records: list[_Record] = []
    for number, line in enumerate(text.splitlines(), start=1):
        head = MESSAGE_LINE.match(line)
        if head is not None:
            records.append(_Record(number, head, [head["rest"]]))
        elif records:
            records[-1].lines.append(line)
        elif line.strip(_MARKS):
            raise InputError(
                f"{name}, line {number}: {line.strip()[:60]!r} does not start a message; is "
                f"this a WhatsApp export? expected lines like {EXAMPLE}"
            )
    return records


def _message(
    record: _Record, order: str, where: str, tally: Tally, seen: dict[str, int]
) -> ChatMessage | None:
    when = _when(record.head, order, where)
    sender = _SENDER.fullmatch("\n".join(record.lines))
    if sender is None or not sender["name"].strip(_MARKS):
        tally.skip("system_line")
        return None
    speaker = tally.text(sender["name"].strip(_MARKS))
    content, reason = body(sender["text"] or "")
    if content is None:
        tally.skip(reason or "empty")
        return None
    content = tally.text(content)
    key = f"{when:%Y-%m-%dT%H:%M}|{speaker}|{content}"
    seen[key] = seen.get(key, 0) + 1
    ref = f"whatsapp:{digest(key, str(seen[key]))}"
    return ChatMessage(ref, "user", content, speaker, when)


def body(text: str) -> tuple[str | None, str | None]:
    """A message's text as kept, or ``(None, reason)`` when it is not kept."""
    first, _, rest = text.partition("\n")
    head = first.strip(_MARKS)
    if _DELETED.fullmatch(head) and not rest.strip():
        return None, "deleted"
    if _WAITING.fullmatch(head) and not rest.strip():
        return None, "unavailable"
    if _MEDIA.fullmatch(head):
        caption = _EDITED.sub("", rest).strip()
        return (caption, None) if caption else (None, "media")
    if text.startswith("\u200e"):
        return None, "system_line"  # iOS writes its notices under a sender, marked so
    content = _EDITED.sub("", text).strip(_MARKS + "\n")
    return (content, None) if content else (None, "empty")


def pick_order(fields: list[tuple[str, str, str]], *, twelve_hour: bool, slashes: bool) -> str:
    """The file's date order: ``ymd`` when every date starts with a 4-digit year; else
    ``dmy`` or ``mdy``, whichever reads every date (a first field over 12 means day first,
    a second one over 12 month first). When both read them all, the one that keeps the
    messages in time order; when that ties too (every day and month 12 or under, in order
    either way), M/D/Y for slashes with a 12-hour clock (the US style), else D/M/Y."""
    if fields and all(len(a) == 4 for a, _, _ in fields):
        return "ymd"
    fits = [o for o in ("dmy", "mdy") if all(read_date(f, o) is not None for f in fields)]
    if len(fits) == 1:
        return fits[0]
    if not fits:  # no order reads every date: the caller names the first line that fails
        return max(
            ("dmy", "mdy"),
            key=lambda o: (
                sum(read_date(f, o) is not None for f in fields),
                sum(int(_ymd(f, o)[1]) <= 12 for f in fields),  # 2/30/24: Feb 30, M/D/Y
            ),
        )
    steps = {o: _backsteps([read_date(f, o) for f in fields]) for o in fits}
    if steps["dmy"] != steps["mdy"]:
        return min(steps, key=lambda o: steps[o])
    return "mdy" if twelve_hour and slashes else "dmy"


def _ymd(value: tuple[str, str, str], order: str) -> tuple[str, str, str]:
    """The year, month and day fields of ``value`` (as written) in ``order``."""
    a, b, c = value
    return {"ymd": (a, b, c), "dmy": (c, b, a), "mdy": (c, a, b)}[order]


def read_date(value: tuple[str, str, str], order: str) -> date | None:
    """The date ``value`` (its three fields as written) in ``order``, or None if invalid."""
    y, m, d = _ymd(value, order)
    year = int(y) + (2000 if len(y) <= 2 else 0)
    try:
        return date(year, int(m), int(d))
    except ValueError:
        return None


def _backsteps(dates: list[date | None]) -> int:
    """How often a date comes before the one above it."""
    return sum(1 for x, y in pairwise(dates) if x and y and y < x)


def _when(head: re.Match[str], order: str, where: str) -> datetime:
    day = read_date((head["a"], head["b"], head["c"]), order)
    if day is None:
        raise InputError(
            f"{where}: the date {head['a']}{head['sep']}{head['b']}{head['sep']}{head['c']} "
            f"is not a valid {'/'.join(order.upper())} date like the rest of the file; "
            f"correct the line, or export the chat again"
        )
    hour, minute = int(head["hour"]), int(head["minute"])
    second = int(head["second"] or 0)
    ampm = head["ampm"]
    if ampm is not None:
        if not 1 <= hour <= 12:
            raise InputError(f"{where}: {hour} is not an hour of a 12-hour clock")
        hour = hour % 12 + (12 if ampm[0] in "pP" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise InputError(f"{where}: {head['hour']}:{head['minute']} is not a time of day")
    return datetime(day.year, day.month, day.day, hour, minute, second)
