"""A synthetic WhatsApp export for tests and benchmarks: several speakers, multi-line messages,
media placeholders, deleted messages, system lines, repeated short replies and days with
long silences, written in one of the Android or iOS line styles.

``synthetic_whatsapp(n, seed)`` is the text; ``synthetic_whatsapp_chat(n, seed)`` also says
how many messages a parser should keep and skip, by reason.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

SPEAKERS = ("Maya", "Tom Becker", "Lena", "+44 7700 900123")
SUBJECTS = (
    "the dentist",
    "Pixel the cat",
    "our trip to Lisbon",
    "the cello lesson",
    "grandma's birthday",
    "the new flat",
    "the football match",
    "dinner on Friday",
)
VERBS = ("moved", "cancelled", "booked", "forgot", "loved", "rescheduled", "paid for", "found")
WHEN = ("tomorrow", "next week", "on Saturday", "this morning", "at 7", "in June", "again")
SHORT = ("ok", "haha", "👍", "yes!", "sure", "lol", "thanks")
ENCRYPTED = (
    "Messages and calls are end-to-end encrypted. No one outside of this chat, not even "
    "WhatsApp, can read or listen to them. Tap to learn more."
)


@dataclass
class SyntheticChat:
    text: str
    kept: int = 0  # messages a parser keeps
    skipped: dict[str, int] = field(default_factory=dict)

    def skip(self, reason: str) -> None:
        self.skipped[reason] = self.skipped.get(reason, 0) + 1


def synthetic_whatsapp(n_messages: int, seed: int = 0, style: str = "android12") -> str:
    """A WhatsApp export of ``n_messages`` messages (system lines come on top)."""
    return synthetic_whatsapp_chat(n_messages, seed, style).text


def synthetic_whatsapp_chat(
    n_messages: int, seed: int = 0, style: str = "android12"
) -> SyntheticChat:
    rng = random.Random(seed)
    chat = SyntheticChat("")
    when = datetime(2022, 3, 1, 8, 0)
    lines = [_line(style, when, None, ENCRYPTED)]
    chat.skip("system_line")
    for i in range(n_messages):
        when += _pause(rng)
        speaker = rng.choice(SPEAKERS)
        if i and rng.random() < 0.01:
            lines.append(_line(style, when, None, f"{speaker} added {rng.choice(SPEAKERS)}"))
            chat.skip("system_line")
        lines.append(_line(style, when, speaker, _text(rng, chat, style)))
    chat.text = "\n".join(lines) + "\n"
    return chat


def _pause(rng: random.Random) -> timedelta:
    """Mostly minutes apart, sometimes an evening's silence, now and then days."""
    roll = rng.random()
    if roll < 0.02:
        return timedelta(days=rng.randint(1, 4), minutes=rng.randint(0, 600))
    if roll < 0.06:
        return timedelta(hours=rng.randint(7, 14))
    return timedelta(seconds=rng.choice((0, 20, 45, 60, 90, 180, 600)))


def _text(rng: random.Random, chat: SyntheticChat, style: str) -> str:
    roll = rng.random()
    if roll < 0.03:
        chat.skip("media")
        return "\u200eimage omitted" if style == "ios" else "<Media omitted>"
    if roll < 0.04:
        chat.skip("deleted")
        return "This message was deleted"
    chat.kept += 1
    if roll < 0.15:
        return rng.choice(SHORT)
    sentence = f"I {rng.choice(VERBS)} {rng.choice(SUBJECTS)} {rng.choice(WHEN)}."
    if roll < 0.25:
        return sentence + "\n" + f"Also: {rng.choice(SUBJECTS)}?\n- remember {rng.choice(WHEN)}"
    return sentence


def _line(style: str, when: datetime, speaker: str | None, text: str) -> str:
    who = f"{speaker}: " if speaker else ""
    if style == "ios":
        return f"[{when:%d.%m.%y, %H:%M:%S}] {who or 'Family: '}{'' if who else chr(0x200E)}{text}"
    if style == "android24":
        return f"{when:%d/%m/%Y, %H:%M} - {who}{text}"
    hour = when.hour % 12 or 12
    return f"{when.month}/{when.day}/{when:%y}, {hour}:{when:%M}\u202f{when:%p} - {who}{text}"
