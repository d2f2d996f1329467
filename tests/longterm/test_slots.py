"""The slots a person fills one value at a time (home, job, diet), in the speaker's own
voice only; and the no-LLM rule taking a shared slot as a shared subject."""

from __future__ import annotations

import pytest

from lightmem.longterm.slots import slots
from lightmem.longterm.validity import SUBJECT_COSINE, replaces, worded_as_change


@pytest.mark.parametrize(
    ("text", "filled"),
    [
        ("I live in Lisbon with my sister.", {"home": frozenset()}),
        ("We moved to Porto last month, loving it so far.", {"home": frozenset()}),
        ("I just started a new job at Microsoft.", {"job": frozenset()}),
        ("I'm vegan now.", {"diet": frozenset({"vegan"})}),
        ("John's moving to Boston in May.", {"home": frozenset()}),  # the speaker, by name
        ("My sister moved to Paris.", {}),
        ("I think my brother got a job at Microsoft.", {}),
        ("John admires Maria's volunteer work at a shelter.", {}),
        ("I guess that cheese one works for guys too.", {}),
        ("My daughter is vegan.", {}),
        ("I had a long day at work.", {}),
        ("I work as a nurse at the hospital.", {"job": frozenset({"nurse"})}),
        ("I moved to the new office downstairs.", {}),  # a move to no place named
        ("Big news: I moved to Porto last week.", {"home": frozenset()}),
    ],
)
def test_a_slot_is_filled_in_the_speakers_own_voice(
    text: str, filled: dict[str, frozenset[str]]
) -> None:
    assert slots(text, ["John"]) == filled


@pytest.mark.parametrize(
    ("newer", "older", "cosine"),
    [
        # no content word shared: only the slot ties them (MiniLM cosines of this machine)
        ("I just started a new job at Microsoft.", "I work at Google.", 0.35),
        ("I got a job at the hospital.", "I work at the library.", 0.44),
        ("We moved to Porto last month, loving it so far.", "I live in Lisbon.", 0.48),
        ("I moved to Porto last week.", "I live in Lisbon with my sister Zoraida.", 0.48),
        # a slot's value swapped for another
        ("I'm vegan now.", "I'm vegetarian.", 0.78),
        ("I work as a teacher now.", "I work as a nurse.", 0.65),
        ("I started a new job as a teacher.", "I work as a nurse.", 0.57),
        # a slot shared is enough overlap, however long the news around it
        ("Big news: I moved to Porto last week.", "I live in Lisbon with my partner Joao.", 0.52),
    ],
)
def test_a_change_of_what_fills_a_slot_replaces_the_older_memory(
    newer: str, older: str, cosine: float
) -> None:
    assert worded_as_change(newer, older) == SUBJECT_COSINE
    assert replaces(newer, older, cosine)


@pytest.mark.parametrize(
    ("newer", "older", "cosine"),
    [
        ("My sister moved to Paris.", "I live in Lisbon.", 0.40),
        ("My brother got a job at Microsoft.", "I work at Google.", 0.37),
        ("My daughter is vegan now.", "I'm vegetarian.", 0.58),
        ("I got a job offer from Amazon but turned it down.", "I work at Google.", 0.28),
        ("I'm working at the cafe today, come by!", "I work at Google.", 0.25),
        ("I started working on a new painting.", "I work at Google.", 0.27),
        ("I think I would love to live in Turkey.", "I live in Miami.", 0.6),
        ("I moved to the new office downstairs last week.", "I live in Lisbon.", 0.29),
        # one more, not another
        ("I also work as a tutor now.", "I work as a nurse.", 0.50),
        ("I work as a volunteer on weekends now.", "I work as a nurse.", 0.56),
        ("I'm vegan on weekdays now, vegetarian on weekends.", "I'm vegetarian.", 0.67),
    ],
)
def test_what_is_no_change_of_a_slot(newer: str, older: str, cosine: float) -> None:
    assert not replaces(newer, older, cosine)
