from datetime import datetime

import pytest

from lightmem.errors import InputError
from lightmem.messages import AddDefaults, make_scope, to_turns
from lightmem.timeutil import parse_timestamp
from lightmem.types import Scope

D = AddDefaults(session_id="s1", timestamp=datetime(2024, 1, 1))


def test_string_and_list_inputs() -> None:
    (t,) = to_turns("hello", Scope("u"), D)
    assert (t.role, t.content, t.session_id, t.timestamp) == ("user", "hello", "s1", D.timestamp)
    ts = to_turns(
        [
            {"role": "user", "content": "a", "name": "Ann", "timestamp": "2023-05-08T13:56:00"},
            {"role": "assistant", "content": "b", "ref": "D1:2"},
        ],
        Scope("u"),
        D,
    )
    assert ts[0].speaker == "Ann" and ts[0].timestamp == datetime(2023, 5, 8, 13, 56)
    assert ts[1].ref == "D1:2" and ts[1].label == "assistant"


@pytest.mark.parametrize(
    ("message", "fragment"),
    [
        ({"content": "x"}, "missing 'role'"),
        ({"role": "robot", "content": "x"}, "unknown role 'robot'"),
        ({"role": "user"}, "missing 'content'"),
        ({"role": "user", "content": "  "}, "'content' is empty"),
        ({"role": "user", "content": 3}, "must be a string"),
        ({"role": "user", "content": "x", "timestamp": "yesterday-ish"}, "cannot parse"),
        ({"role": "user", "content": "x", "colour": "red"}, "unknown key(s) 'colour'"),
    ],
)
def test_bad_messages_name_the_problem(message: dict, fragment: str) -> None:
    with pytest.raises(InputError) as err:
        to_turns([{"role": "user", "content": "fine"}, message], Scope("u"), D)
    assert fragment in str(err.value)
    assert "message 1" in str(err.value)


def test_empty_and_wrong_types() -> None:
    with pytest.raises(InputError, match="empty"):
        to_turns([], Scope("u"), D)
    with pytest.raises(InputError, match="not int"):
        to_turns(5, Scope("u"), D)


def test_scope_rules() -> None:
    with pytest.raises(InputError, match="scope is required"):
        make_scope(None, None, "r")
    with pytest.raises(InputError, match="user_id"):
        make_scope("", None, None)
    assert make_scope("u", None, "r").owner == Scope("u")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2023-05-08T13:56:00Z", datetime(2023, 5, 8, 13, 56)),
        ("2023-05-08T15:56:00+02:00", datetime(2023, 5, 8, 13, 56)),
        ("1:56 pm on 8 May, 2023", datetime(2023, 5, 8, 13, 56)),
        ("2023/05/20 (Sat) 02:21", datetime(2023, 5, 20, 2, 21)),
        (0, datetime(1970, 1, 1)),
        # an epoch written as text (a query string, --since): the error named it as accepted
        ("1704067200", datetime(2024, 1, 1)),
        (" 1704067200.5 ", datetime(2024, 1, 1, 0, 0, 0, 500000)),
        ("20240102", datetime(2024, 1, 2)),  # eight digits are a date
    ],
)
def test_timestamp_forms(raw: object, expected: datetime) -> None:
    assert parse_timestamp(raw) == expected


def test_timestamp_rejects_booleans_and_garbage() -> None:
    for bad in (True, "", "not a date", [2023]):
        with pytest.raises(InputError):
            parse_timestamp(bad)


def test_a_messages_session_id_is_held_to_the_run_ids_rule() -> None:
    """run_id "a\\nb" was refused and the same id given as a message's session_id stored."""
    with pytest.raises(InputError, match=r"message 0: session_id must not contain control"):
        to_turns([{"role": "user", "content": "x", "session_id": "a\nb"}], Scope("u"), D)
    with pytest.raises(InputError, match="run_id must not contain control"):
        make_scope("u", None, "a\nb")
