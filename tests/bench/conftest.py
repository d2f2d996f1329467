"""Tiny benchmark files in the public layouts, built per test, and a CLI runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from lightmem_bench.cli import bench_app

PETS = [
    ("Maya", "My cat Pixel only eats salmon flavoured kibble these days."),
    ("Jonas", "Pixel is picky! Our dog Bruno eats anything he finds in the park."),
    ("Maya", "I started a new job as a nurse at Riverside hospital last week."),
    ("Jonas", "Congrats on the nursing job, how are the night shifts going?"),
    ("Maya", "Hi!"),
]
TRAVEL = [
    ("Maya", "We are planning a trip to Lisbon in October with my sister Ana."),
    ("Jonas", "Lisbon is lovely in autumn, try the pastel de nata near the river."),
    ("Maya", "I took up pottery classes on Thursday evenings at the community centre."),
    ("Jonas", "Pottery sounds relaxing, send me a picture of your first bowl."),
]


def _session(turns: list[tuple[str, str]], n: int) -> list[dict[str, Any]]:
    return [
        {"speaker": who, "dia_id": f"D{n}:{i}", "text": text}
        for i, (who, text) in enumerate(turns, start=1)
    ]


def locomo_sample(sample_id: str) -> dict[str, Any]:
    return {
        "sample_id": sample_id,
        "conversation": {
            "speaker_a": "Maya",
            "speaker_b": "Jonas",
            "session_1_date_time": "1:56 pm on 8 May, 2023",
            "session_1": _session(PETS, 1),
            "session_2_date_time": "7:12 pm on 3 June, 2023",
            "session_2": _session(TRAVEL, 2),
        },
        "qa": [
            {
                "question": "What does Pixel eat?",
                "answer": "salmon flavoured kibble",
                "evidence": ["D1:1"],
                "category": 4,
            },
            {
                "question": "Where does Maya work as a nurse?",
                "answer": "Riverside hospital",
                "evidence": ["D1:3"],
                "category": 1,
            },
            {
                "question": "When is the Lisbon trip?",
                "answer": "October",
                "evidence": ["D2:1; D2:2"],
                "category": 2,
            },  # malformed: two ids in one string
            {
                "question": "What class does Maya take on Thursdays?",
                "answer": 2023,
                "evidence": ["D2:3"],
                "category": 3,
            },
            {
                "question": "What does Bruno hate?",
                "adversarial_answer": "baths",
                "evidence": ["D1:2"],
                "category": 5,
            },
            {
                "question": "What is Maya's favourite colour?",
                "answer": "blue",
                "evidence": [],
                "category": 4,
            },
        ],
    }


@pytest.fixture
def locomo_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-locomo.json"
    path.write_text(json.dumps([locomo_sample("s1"), locomo_sample("s2")]), encoding="utf-8")
    return path


def longmemeval_instance(qid: str = "q1") -> dict[str, Any]:
    def turns(pairs: list[tuple[str, str, bool]]) -> list[dict[str, Any]]:
        return [{"role": r, "content": c, "has_answer": h} for r, c, h in pairs]

    return {
        "question_id": qid,
        "question_type": "single-session-user",
        "question": "What degree did I graduate with?",
        "answer": "Business Administration",
        "question_date": "2023/05/30 (Tue) 23:40",
        "haystack_session_ids": ["sharegpt_a", "answer_x1", "sess_b"],
        "haystack_dates": [
            "2023/05/20 (Sat) 02:21",
            "2023/05/21 (Sun) 10:00",
            "2023/05/22 (Mon) 09:00",
        ],
        "haystack_sessions": [
            turns(
                [
                    ("user", "How do I bake sourdough bread at home?", False),
                    ("assistant", "Start with an active starter and a long proof.", False),
                ]
            ),
            turns(
                [
                    ("user", "I graduated with a degree in Business Administration.", True),
                    ("assistant", "Congratulations on your Business Administration degree!", True),
                    ("user", "Thanks, what jobs suit that degree?", False),
                    ("assistant", "Consulting, management and marketing roles.", False),
                ]
            ),
            turns(
                [
                    ("user", "Recommend a sci-fi novel about first contact.", False),
                    ("assistant", "Try The Three-Body Problem.", False),
                ]
            ),
        ],
        "answer_session_ids": ["answer_x1"],
    }


@pytest.fixture
def longmemeval_file(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-longmemeval.json"
    abstention = longmemeval_instance("q2_abs")
    abstention["question"] = "What degree did my sister graduate with?"
    path.write_text(json.dumps([longmemeval_instance(), abstention]), encoding="utf-8")
    return path


@pytest.fixture
def run_bench(tmp_path: Path) -> Any:
    """Invoke ``bench_app`` in-process with a cache under ``tmp_path``: a command line
    (split on spaces) plus more arguments (paths); fails on errors unless ``ok=False``."""

    def invoke(command: str, *args: str, ok: bool = True) -> Result:
        argv = [*command.split(), *args, "--cache", str(tmp_path / "cache")]
        result = CliRunner().invoke(bench_app, argv, catch_exceptions=not ok)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke
