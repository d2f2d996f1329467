"""Timestamps: everything inside LightMem is a naive UTC ``datetime``."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from lightmem.errors import InputError

_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%I:%M %p on %d %B, %Y",  # LoCoMo: "1:56 pm on 8 May, 2023"
    "%I:%M %p on %d %b, %Y",
)
#: a UNIX epoch as text: 9 to 11 digits (8 are a date, "20240101"), a fraction allowed
_EPOCH_TEXT = re.compile(r"\d{9,11}(?:\.\d+)?")
_WEEKDAY = re.compile(r"\s*\((Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\)\s*", re.IGNORECASE)


def to_utc_naive(value: datetime, *, field: str = "timestamp") -> datetime:
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            raise InputError(
                f"{field}: {value.isoformat()} is outside the range of dates once converted "
                f"to UTC (years 1-9999); give a date inside it"
            ) from None
    return value


_EPOCH = datetime(1970, 1, 1)


def epoch_seconds(value: datetime | None) -> float:
    """Seconds since 1970-01-01 UTC (nan for None), for every date of years 1-9999: a naive
    value is UTC here, where ``datetime.timestamp()`` reads it as local time (machine- and
    DST-dependent) and fails at the ends of the range ("year 0 is out of range")."""
    if value is None:
        return float("nan")
    if value.tzinfo is not None:
        return (value - _EPOCH.replace(tzinfo=UTC)).total_seconds()
    return (value - _EPOCH).total_seconds()


def parse_timestamp(value: object, *, field: str = "timestamp") -> datetime:
    """Parse a datetime, an ISO 8601 string, a UNIX epoch number or a dataset date string.

    Raises :class:`InputError` naming the field and the accepted forms.
    """
    if isinstance(value, datetime):
        return to_utc_naive(value, field=field)
    if isinstance(value, bool):
        raise InputError(f"{field}: expected a date/time, got a boolean")
    if isinstance(value, str) and _EPOCH_TEXT.fullmatch(value.strip()):
        value = float(value)  # "1704067200": an epoch written as text (a query string, a CSV)
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC).replace(tzinfo=None)
        except (OverflowError, OSError, ValueError) as exc:
            raise InputError(f"{field}: {value!r} is not a valid UNIX timestamp") from exc
    if isinstance(value, str):
        text = value.strip()
        if text:
            try:
                iso = text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text
                parsed = datetime.fromisoformat(iso)
            except ValueError:
                pass
            else:
                return to_utc_naive(parsed, field=field)
            cleaned = _WEEKDAY.sub(" ", text).strip()
            for fmt in _FORMATS:
                try:
                    return datetime.strptime(cleaned, fmt)
                except ValueError:
                    continue
    raise InputError(
        f"{field}: cannot parse {value!r} as a date/time; use ISO 8601 such as "
        f"'2023-05-08T13:56:00' (a 'Z' or offset is converted to UTC) or a UNIX epoch number"
    )


def format_timestamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat(timespec="seconds")
