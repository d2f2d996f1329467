"""Times in text: the dates a question names (so search can look near them), and relative
times in a turn ("yesterday", "last Saturday", "next month") resolved against the turn's own
time (so a context can say which day was meant). Pure functions over strings and datetimes.
"""

from __future__ import annotations

import calendar
import re
from datetime import datetime, timedelta

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS.update({m.lower(): i for i, m in enumerate(calendar.month_abbr) if m})
_MONTHS["sept"] = 9
_MON = (
    r"(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_ORD = r"(\d{1,2})(?:st|nd|rd|th)?"
_DAY_MONTH_YEAR = re.compile(rf"\b{_ORD}\s+(?:of\s+)?{_MON},?\s+(\d{{4}})\b", re.I)
_MONTH_DAY_YEAR = re.compile(rf"\b{_MON}\s+{_ORD},?\s+(\d{{4}})\b", re.I)
_MONTH_YEAR = re.compile(rf"\b{_MON},?\s+(?:of\s+)?(\d{{4}})\b", re.I)
_ISO = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
#: a question about a day also meets what was said in the days after it ("last night")
AFTER = timedelta(days=3)
BEFORE = timedelta(days=1)

Window = tuple[datetime, datetime]


def question_windows(text: str) -> list[Window]:
    """The time windows the dates in ``text`` stand for: a day from the day before to three
    days after it, a month likewise around the whole month. Years alone are too wide."""
    out: list[Window] = []
    taken: list[tuple[int, int]] = []
    for pattern, order in ((_DAY_MONTH_YEAR, "dmy"), (_MONTH_DAY_YEAR, "mdy"), (_ISO, "ymd")):
        for m in pattern.finditer(text):
            day = _day(m.groups(), order)
            if day is not None:
                out.append((day - BEFORE, day + timedelta(days=1) + AFTER))
                taken.append(m.span())
    for m in _MONTH_YEAR.finditer(text):
        if any(a <= m.start() < b for a, b in taken):
            continue
        month, year = _MONTHS.get(m.group(1).lower().rstrip(".")), int(m.group(2))
        if month is None or not 1 <= year <= 9999:
            continue
        first = datetime(year, month, 1)
        last = first + timedelta(days=calendar.monthrange(year, month)[1])
        out.append((first - BEFORE, last + AFTER))
    return out


def _day(groups: tuple[str, ...], order: str) -> datetime | None:
    try:
        if order == "ymd":
            y, mo, d = int(groups[0]), int(groups[1]), int(groups[2])
        elif order == "dmy":
            d, mo_name, y = int(groups[0]), groups[1], int(groups[2])
            mo = _MONTHS[mo_name.lower().rstrip(".")]
        else:
            mo_name, d, y = groups[0], int(groups[1]), int(groups[2])
            mo = _MONTHS[mo_name.lower().rstrip(".")]
        return datetime(y, mo, d)
    except (KeyError, ValueError):
        return None


_PAST = re.compile(
    r"\b(did|was|were|had|used to|before|previous(?:ly)?|former(?:ly)?|earlier|originally|"
    r"first|old|ago|back then|prior|until|anymore|no longer|last (?:year|month|week))\b",
    re.I,
)


def about_past(question: str) -> bool:
    """Whether a question asks about the past ("where did I work before?", "what was my
    first car?") rather than what holds now: then a replaced memory is as good an answer."""
    return bool(_PAST.search(question)) or bool(question_windows(question))


_WEEKDAYS = [d.lower() for d in calendar.day_name]
_REL_DAY = {
    "the day before yesterday": -2,
    "yesterday": -1,
    "last night": -1,
    "today": 0,
    "tonight": 0,
    "this morning": 0,
    "this afternoon": 0,
    "this evening": 0,
    "tomorrow": 1,
    "the day after tomorrow": 2,
}
_RELATIVE = re.compile(
    r"\b(the day before yesterday|the day after tomorrow|yesterday|last night|today|tonight|"
    r"this (?:morning|afternoon|evening)|tomorrow|"
    r"(?:last|this|next) (?:monday|tuesday|wednesday|thursday|friday|saturday|sunday)|"
    r"(?:last|next) (?:week|month|year)|"
    r"(?:a|one|two|three|four|five|six|\d{1,2}) (?:day|week|month)s? ago)\b",
    re.I,
)
_NUMBERS = {"a": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6}


def timeless(text: str) -> str:
    """``text`` without the relative times it names ("last week", "two days ago",
    "yesterday"); the text as it was when nothing else would be left."""
    bare = " ".join(_RELATIVE.sub(" ", text).split())
    return re.sub(r"\s+([.,!?;:])", r"\1", bare) or text


def resolve_relative(text: str, at: datetime | None) -> str:
    """``text`` with each relative time it holds followed by the date it names, counted from
    ``at`` (the turn's own time): "last Saturday" said on Thursday 2024-01-11 becomes
    "last Saturday (2024-01-06)"; weeks, months and years by their first day."""
    if at is None:
        return text
    return _RELATIVE.sub(lambda m: f"{m.group(0)} ({_date_of(m.group(0).lower(), at)})", text)


def _date_of(phrase: str, at: datetime) -> str:
    day = at.date()
    if phrase in _REL_DAY:
        return (day + timedelta(days=_REL_DAY[phrase])).isoformat()
    words = phrase.split()
    if words[-1] == "ago":
        n = int(words[0]) if words[0].isdigit() else _NUMBERS[words[0]]
        unit = words[1].rstrip("s")
        back = {"day": 1, "week": 7, "month": 30}[unit] * n
        return ("about " if unit == "month" else "") + (day - timedelta(days=back)).isoformat()
    which, what = words
    if what in _WEEKDAYS:
        target = _WEEKDAYS.index(what)
        delta = (target - day.weekday()) % 7
        if which == "last":
            delta = delta - 7 if delta > 0 else -7
        elif which == "next":
            delta = delta + 7 if delta == 0 else delta
        return (day + timedelta(days=delta)).isoformat()
    step = -1 if which == "last" else 1
    if what == "week":
        monday = day - timedelta(days=day.weekday()) + timedelta(weeks=step)
        return f"week of {monday.isoformat()}"
    if what == "month":
        month = (day.month - 1 + step) % 12 + 1
        year = day.year + (day.month - 1 + step) // 12
        return f"{year}-{month:02d}"
    return str(day.year + step)
