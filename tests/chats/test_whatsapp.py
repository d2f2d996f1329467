"""WhatsApp's text export: both clocks, every date order, iOS brackets, multi-line messages,
system lines, media placeholders and deleted messages, and file-independent refs."""

from __future__ import annotations

import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from lightmem.chats import read_chat
from lightmem.chats.whatsapp import body, pick_order
from lightmem.errors import InputError
from tests.chats.conftest import FIXTURES
from tests.chats.generate import synthetic_whatsapp_chat


def parse(tmp_path: Path, text: str) -> list[tuple[datetime | None, str | None, str]]:
    path = tmp_path / "_chat.txt"
    path.write_text(text, encoding="utf-8")
    (chat,) = read_chat(path, "whatsapp").chats
    return [(m.timestamp, m.speaker, m.content) for m in chat.messages]


def test_android_12_hour_export() -> None:
    export = read_chat(FIXTURES / "whatsapp_android_12h.txt", "whatsapp")
    (chat,) = export.chats
    got = [(m.timestamp, m.speaker, m.content) for m in chat.messages]
    assert got == [
        (datetime(2023, 12, 30, 21, 42), "Tom", "Flights are booked for March 14!"),
        (
            datetime(2023, 12, 30, 21, 43),
            "Maya",
            "Great. My sister Zoraida can host us.\nShe lives near the castle.\n\nThree bedrooms.",
        ),
        (datetime(2023, 12, 30, 21, 45), "Tom", "ok"),
        (datetime(2023, 12, 30, 21, 45), "Tom", "ok"),
        (datetime(2023, 12, 31, 0, 5), "Lena", "Happy new year!!"),  # 12:05 AM, edit mark gone
        (datetime(2023, 12, 31, 12, 10), "Tom", "Note: bring adapters"),  # 12:10 PM
        (datetime(2024, 1, 2, 8, 15), "Maya", "The castle at sunrise"),  # a photo's caption
    ]
    assert {m.role for m in chat.messages} == {"user"}
    assert export.tally.skipped == {"system_line": 2, "media": 1, "deleted": 1}
    # the two identical "ok"s are two messages with two refs
    assert len({m.ref for m in chat.messages}) == 7


def test_android_24_hour_day_first_export() -> None:
    export = read_chat(FIXTURES / "whatsapp_android_24h.txt", "whatsapp")
    got = [(m.timestamp, m.speaker) for m in export.chats[0].messages]
    assert got == [
        (datetime(2024, 2, 28, 21, 41), "Maya"),
        (datetime(2024, 2, 28, 21, 50), "Ana"),
        (datetime(2024, 3, 1, 8, 0), "Maya"),  # 01/03: day first, as 28/02 says
    ]
    assert export.tally.skipped == {"system_line": 1}  # "Ana left"


def test_ios_export_with_brackets_seconds_and_marks() -> None:
    export = read_chat(FIXTURES / "whatsapp_ios.txt", "whatsapp")
    got = [(m.timestamp, m.speaker, m.content) for m in export.chats[0].messages]
    assert got == [
        (datetime(2023, 12, 31, 21, 41, 30), "Maya", "Are you coming to the party?"),
        (datetime(2023, 12, 31, 21, 42, 2), "Lena", "Yes, bringing my cello"),
        (datetime(2024, 1, 1, 10, 0), "Lena", "Thanks for last night!"),
    ]
    # the encryption notice and the missed call are iOS notices; a photo and an image
    assert export.tally.skipped == {"system_line": 2, "media": 2}


@pytest.mark.parametrize(
    ("line", "when"),
    [
        ("12/31/23, 9:41 PM - Ann: hi", datetime(2023, 12, 31, 21, 41)),
        ("12/31/23, 9:41\u202fAM - Ann: hi", datetime(2023, 12, 31, 9, 41)),
        ("31/12/2023, 21:41 - Ann: hi", datetime(2023, 12, 31, 21, 41)),
        ("31.12.23 21:41 - Ann: hi", datetime(2023, 12, 31, 21, 41)),
        ("31/12/2023, 21.41 - Ann: hi", datetime(2023, 12, 31, 21, 41)),
        ("[31.12.23, 21:41:05] Ann: hi", datetime(2023, 12, 31, 21, 41, 5)),
        ("[12/31/23, 9:41:05 PM] Ann: hi", datetime(2023, 12, 31, 21, 41, 5)),
        ("\u200e[2023-12-31, 09:41:05] Ann: hi", datetime(2023, 12, 31, 9, 41, 5)),
        ("2023-12-31, 21:41 - Ann: hi", datetime(2023, 12, 31, 21, 41)),
        ("31/12/23, 9:41 p. m. - Ann: hi", datetime(2023, 12, 31, 21, 41)),
        ("12/31/23, 12:00 AM - Ann: hi", datetime(2023, 12, 31, 0, 0)),
    ],
)
def test_line_styles(tmp_path: Path, line: str, when: datetime) -> None:
    assert parse(tmp_path, line + "\n") == [(when, "Ann", "hi")]


@pytest.mark.parametrize(
    ("dates", "twelve_hour", "order"),
    [
        ([("13", "01", "23")], False, "dmy"),  # a first field over 12: day first
        ([("01", "13", "23")], True, "mdy"),  # a second field over 12: month first
        ([("2023", "12", "31")], False, "ymd"),
        ([("01", "02", "23"), ("03", "02", "23")], False, "dmy"),  # ambiguous, 24-hour clock
        ([("01", "02", "23"), ("03", "02", "23")], True, "mdy"),  # ambiguous, US style
        ([("05", "01", "23"), ("02", "02", "23")], True, "dmy"),  # only D/M/Y keeps the order
    ],
)
def test_pick_order(dates: list[tuple[str, str, str]], twelve_hour: bool, order: str) -> None:
    assert pick_order(dates, twelve_hour=twelve_hour, slashes=True) == order


def test_dots_are_day_first_even_with_a_12_hour_clock() -> None:
    assert pick_order([("01", "02", "23")], twelve_hour=True, slashes=False) == "dmy"


def test_the_order_is_decided_for_the_whole_file(tmp_path: Path) -> None:
    text = "01/02/23, 10:00 - Ann: first\n13/02/23, 10:00 - Ann: later\n"
    assert [w for w, _, _ in parse(tmp_path, text)] == [
        datetime(2023, 2, 1, 10, 0),
        datetime(2023, 2, 13, 10, 0),
    ]


def test_dates_that_fit_no_order_name_the_line(tmp_path: Path) -> None:
    text = "13/01/23, 10:00 - Ann: a\n01/13/23, 10:00 - Ann: b\n"
    with pytest.raises(InputError, match=r"line 2: the date 01/13/23 is not a valid D/M/Y date"):
        parse(tmp_path, text)


def test_an_impossible_date_is_named_in_the_order_its_fields_suggest(tmp_path: Path) -> None:
    # 30 cannot be a month: the file writes month first, and February has no 30th
    text = "2/30/24, 9:41 PM - Tom: impossible date\n"
    with pytest.raises(InputError, match=r"the date 2/30/24 is not a valid M/D/Y date"):
        parse(tmp_path, text)


def test_a_bad_hour_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="line 2: 25:10 is not a time of day"):
        parse(tmp_path, "31/12/23, 10:00 - Ann: a\n31/12/23, 25:10 - Ann: b\n")


def test_a_first_line_that_is_not_a_message_is_an_error() -> None:
    with pytest.raises(InputError) as caught:
        read_chat(FIXTURES / "whatsapp_bad_first_line.txt", "whatsapp")
    message = str(caught.value)
    assert "whatsapp_bad_first_line.txt, line 1: 'Chat history with Tom' does not start" in message
    assert "is this a WhatsApp export? expected lines like '12/31/23, 9:41 PM - Name: text'" in (
        message
    )


def test_json_given_as_whatsapp_says_which_format_it_is() -> None:
    with pytest.raises(InputError, match="looks like a Telegram export"):
        read_chat(FIXTURES / "telegram_chat.json", "whatsapp")


def test_a_whatsapp_file_given_as_json_says_which_format_it_is() -> None:
    with pytest.raises(InputError, match=r"not valid JSON.*looks like a WhatsApp export"):
        read_chat(FIXTURES / "whatsapp_ios.txt", "claude")


def test_continuation_of_a_system_line_is_skipped_with_it(tmp_path: Path) -> None:
    text = (
        "31/12/23, 10:00 - Tom changed the group description\n"
        "Rules: be nice\n"
        "31/12/23, 10:01 - Ann: hi\n"
    )
    assert parse(tmp_path, text) == [(datetime(2023, 12, 31, 10, 1), "Ann", "hi")]


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("<Media omitted>", (None, "media")),
        ("<Multimedia omitido>", (None, "media")),
        ("‹Multimédia omitido›", (None, "media")),
        ("<Medien ausgeschlossen>", (None, "media")),
        ("<Без медиафайлов>", (None, "media")),
        ("null", (None, "media")),
        ("null and void", ("null and void", None)),
        ("Se eliminó este mensaje.", (None, "deleted")),
        ("Diese Nachricht wurde gelöscht", (None, "deleted")),
        ("Waiting for this message. This may take a while.", (None, "unavailable")),
        ("Waiting for this message is silly", ("Waiting for this message is silly", None)),
        ("\u200eimage omitted", (None, "media")),
        ("Report.pdf • 3 pages \u200edocument omitted", (None, "media")),
        ("\u200e<attached: 00000042-AUDIO-2023-12-31-21-41-05.opus>", (None, "media")),
        ("IMG-20231231-WA0001.jpg (file attached)\nthe view", ("the view", None)),
        ("This message was deleted", (None, "deleted")),
        ("\u200eYou deleted this message.", (None, "deleted")),
        ("\u200eMissed video call", (None, "system_line")),
        ("fixed it <This message was edited>", ("fixed it", None)),
        ("{{user}} $(rm -rf /) <b>raw</b>", ("{{user}} $(rm -rf /) <b>raw</b>", None)),
    ],
)
def test_body(text: str, kept: tuple[str | None, str | None]) -> None:
    assert body(text) == kept


def test_the_zip_of_an_export_is_read(tmp_path: Path) -> None:
    archive = tmp_path / "WhatsApp Chat - Lisbon.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("IMG-20240102-WA0003.jpg", b"\xff\xd8")
        z.writestr("_chat.txt", (FIXTURES / "whatsapp_ios.txt").read_bytes())
    assert len(read_chat(archive, "whatsapp").chats[0].messages) == 3


def test_refs_are_the_same_in_an_export_from_another_phone(tmp_path: Path) -> None:
    """Android (12- or 24-hour, no seconds) and iOS (seconds) exports of one chat."""
    refs = []
    for style in ("android12", "android24", "ios"):
        chat = synthetic_whatsapp_chat(300, seed=3, style=style)
        path = tmp_path / f"{style}.txt"
        path.write_text(chat.text, encoding="utf-8")
        export = read_chat(path, "whatsapp")
        assert len(export.chats[0].messages) == chat.kept
        assert export.tally.skipped == chat.skipped
        refs.append([m.ref for m in export.chats[0].messages])
    assert refs[0] == refs[1] == refs[2]
    assert len(set(refs[0])) == len(refs[0])
