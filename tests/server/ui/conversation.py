"""A small conversation in three sessions for the browser's views and screenshots: Maya
and her assistant, with times, speakers and one fact that changes (the race)."""

from __future__ import annotations

from typing import Any

from lightmem import Memory

SESSIONS: list[tuple[str, str, list[tuple[str, str]]]] = [
    (
        "s1",
        "2024-03-01T09:15:00",
        [
            ("Maya", "My cat Pixel only eats salmon kibble, nothing else."),
            ("assistant", "Noted: salmon kibble for Pixel."),
            ("Maya", "I'm training for the Lisbon half marathon in May."),
        ],
    ),
    (
        "s2",
        "2024-03-09T18:40:00",
        [
            ("Maya", "Pixel knocked my coffee over the laptop again this morning."),
            ("assistant", "Oh no! Is the laptop alright?"),
            ("Maya", "It survived. I switched races: the Porto half marathon in June."),
        ],
    ),
    (
        "s3",
        "2024-03-20T07:05:00",
        [
            ("Maya", "Ran 18 km along the river today, my longest run so far."),
            ("assistant", "Great progress for the Porto race."),
        ],
    ),
]


def add_conversation(memory: Memory, user_id: str = "maya") -> None:
    """Add the sessions, extract (no-LLM mode: one memory per turn), and consolidate, which
    writes each session's summary."""
    messages: list[dict[str, Any]] = []
    for session_id, start, turns in SESSIONS:
        minute = int(start[14:16])
        for i, (speaker, text) in enumerate(turns):
            at = f"{start[:14]}{minute + i:02d}:00"
            role = "assistant" if speaker == "assistant" else "user"
            message = {"role": role, "content": text, "session_id": session_id, "timestamp": at}
            if role == "user":
                message["speaker"] = speaker
            messages.append(message)
    memory.add(messages, user_id=user_id)
    memory.flush(user_id=user_id)
    memory.consolidate(user_id=user_id)
