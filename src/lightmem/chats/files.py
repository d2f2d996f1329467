"""Reading an export: a plain file or the ZIP the service hands out, as UTF-8 text; JSON
parsed with errors that say where and what to do; small typed getters for JSON records.

Every problem is an :class:`InputError` that names the file (and the record or line).
"""

from __future__ import annotations

import fnmatch
import json
import os
import zipfile
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from lightmem.errors import InputError
from lightmem.timeutil import parse_timestamp

StrPath = str | os.PathLike[str]

#: the most a ZIP member may hold once unpacked (a larger one is refused, not read)
MAX_MEMBER_BYTES = 2 << 30


def read_export(path: StrPath, members: tuple[str, ...]) -> tuple[str, str]:
    """The text of ``path``, or of the member of the ZIP at ``path`` that matches one of
    ``members`` (first pattern first, then the shallowest), and the name to use in errors."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: no such file; check the path")
    if p.is_dir():
        raise InputError(f"{p}: is a directory; give the export file (or its ZIP)")
    try:
        if zipfile.is_zipfile(p):
            return _from_zip(p, members)
        data = p.read_bytes()
    except OSError as exc:
        raise InputError(f"{p}: cannot be read ({exc.strerror or exc})") from None
    return decode(data, str(p)), str(p)


def _from_zip(path: Path, members: tuple[str, ...]) -> tuple[str, str]:
    try:
        with zipfile.ZipFile(path) as archive:
            info = _pick(archive, members)
            if info is None:
                raise InputError(
                    f"{path}: the ZIP holds no {' or '.join(members)}; give the export's ZIP "
                    f"as downloaded, or the file itself"
                )
            name = f"{path}!{info.filename}"
            if info.file_size > MAX_MEMBER_BYTES:
                raise InputError(f"{name}: is too large to import ({info.file_size} bytes)")
            return decode(archive.read(info), name), name
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError) as exc:
        raise InputError(f"{path}: is a damaged or unsupported ZIP ({exc}); unzip it") from None


def _pick(archive: zipfile.ZipFile, members: tuple[str, ...]) -> zipfile.ZipInfo | None:
    files = [i for i in archive.infolist() if not i.is_dir()]
    for pattern in members:
        found = [i for i in files if fnmatch.fnmatch(PurePosixPath(i.filename).name, pattern)]
        found = [i for i in found if not PurePosixPath(i.filename).name.startswith("._")]
        if found:
            return min(found, key=lambda i: (i.filename.count("/"), i.filename))
    return None


def decode(data: bytes, name: str) -> str:
    """UTF-8 text (a leading BOM dropped); an empty file is an error."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{name}: is not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "give the file as the service exported it"
        ) from None
    if not text.strip():
        raise InputError(f"{name}: is empty; give the export file as downloaded")
    return text


def load_json(text: str, name: str, expected: str) -> Any:
    """Parse a whole JSON document; ``expected`` names the file for error messages."""
    try:
        return json.loads(text)
    except RecursionError:
        raise InputError(f"{name}: is nested too deeply to be {expected}") from None
    except json.JSONDecodeError as exc:
        truncated = not text[exc.pos :].strip() or exc.msg.startswith("Unterminated")
        hint = (
            "the file looks truncated: download or unzip the export again"
            if truncated
            else f"expected {expected}"
        )
        raise InputError(
            f"{name}: is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); {hint}"
        ) from None


def get_str(record: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    """``record[key]`` as a string (numbers are accepted as ids); ``None`` when absent and
    not ``required``."""
    value = record.get(key)
    if value is None or value == "":
        if required:
            raise InputError(f"{where}: has no {key!r}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise InputError(f"{where}: {key!r} must be a string, got {json_kind(value)}")
    return str(value)


def get_list(record: dict[str, Any], key: str, where: str) -> list[Any]:
    value = record.get(key)
    if not isinstance(value, list):
        raise InputError(f"{where}: {key!r} must be a list, got {json_kind(value)}")
    return value


def need_dict(value: object, where: str, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InputError(f"{where}: expected {what} (a JSON object), got {json_kind(value)}")
    return value


def opt_time(value: object, field: str) -> datetime | None:
    """A time as the export wrote it (ISO 8601 or epoch seconds); None when absent."""
    if value is None or value == "":
        return None
    return parse_timestamp(value, field=field)


def json_kind(value: object) -> str:
    """What a JSON value is, in JSON's words (for error messages)."""
    if value is None:
        return "null"
    names = {bool: "a boolean", dict: "an object", list: "a list", str: "a string"}
    return names.get(type(value), "a number" if isinstance(value, int | float) else "a value")
