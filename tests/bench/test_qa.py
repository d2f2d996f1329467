"""``bench qa`` against the fake OpenAI-compatible server: answers, the published judge
prompts, lexical scores, and a disk cache that makes a rerun ask nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lightmem_bench.judge import (
    LONGMEMEVAL_ABSTENTION_PROMPT,
    CallCache,
    judge_request,
    read_label,
)
from lightmem_bench.qa import fit_context
from lightmem_bench.systems.base import Unit
from tests.fakes.openai_server import FakeOpenAIServer


def responder(body: dict[str, Any]) -> str:
    prompt = body["messages"][-1]["content"]
    if "CORRECT or WRONG" in prompt:
        correct = "salmon" in prompt.split("Generated answer:")[1]
        return '{"label": "CORRECT"}' if correct else '{"label": "WRONG"}'
    if "Answer yes or no only" in prompt:
        return "Yes."
    return "salmon flavoured kibble"


def llm_spec(server: FakeOpenAIServer) -> str:
    return json.dumps(
        {
            "provider": "openai",
            "options": {"base_url": server.base_url, "api_key": "sk-test", "max_retries": 0},
        }
    )


def test_locomo_qa_end_to_end_with_cached_calls(
    run_bench: Any, locomo_file: Path, tmp_path: Path, openai_server: FakeOpenAIServer
) -> None:
    openai_server.chat_responder = responder
    out, report = tmp_path / "qa.json", tmp_path / "report"
    command = "qa --dataset locomo --sample s1 --llm none --embedder hash --top-k 3"
    args = [
        "--system",
        "lightmem",
        "--system",
        "full-text",
        *("--data", str(locomo_file), "--answer-llm", llm_spec(openai_server)),
        *("--json", str(out), "--report", str(report)),
    ]
    run_bench(command, *args)
    # 5 questions (categories 1-4 with an answer) x 2 systems: 10 answers from different
    # contexts; the fake answers alike, so the 5 judge verdicts of the second system are
    # the first one's, from the cache
    assert len(openai_server.chat_requests) == 15
    data = json.loads(out.read_text())
    assert data["llm_cache"] == {"hits": 5, "misses": 15}
    assert "sk-test" not in out.read_text()
    q = data["systems"]["lightmem"]["qa"]
    assert q["excluded"] == {"adversarial_or_no_answer": 1}
    assert q["by_category"]["overall"]["n"] == 5
    first = q["questions"][0]
    assert first["question"] == "What does Pixel eat?"
    assert first["answer_raw"] == "salmon flavoured kibble"
    assert first["judge_raw"] == '{"label": "CORRECT"}' and first["judge"] == 1.0
    assert first["f1"] == 1.0 and first["bleu1"] == 1.0
    assert first["context_units"] == 3
    assert q["by_category"]["overall"]["judge"] == 1.0
    assert q["cost"]["answer"]["calls"] == 5 and q["cost"]["answer"]["tokens_in"] == 50
    assert q["cost"]["judge"]["from_cache"] == 0
    assert data["systems"]["full-text"]["qa"]["cost"]["judge"]["from_cache"] == 5
    full = data["systems"]["full-text"]["qa"]["questions"][0]
    assert full["context_units"] == 9  # the whole history
    assert data["qa_models"]["answer"] == "gpt-4o-mini"
    assert (report / "qa.png").is_file()
    judge_body = openai_server.chat_requests[1].body
    assert judge_body["messages"][0]["content"].startswith("\nYour task is to label an answer")

    run_bench(command, *args)  # same run again: every call comes from the cache
    assert len(openai_server.chat_requests) == 15
    again = json.loads(out.read_text())
    assert again["llm_cache"] == {"hits": 20, "misses": 0}
    assert again["systems"]["lightmem"]["qa"]["by_category"] == q["by_category"]

    run_bench(command, *args, "--no-llm-cache")
    assert len(openai_server.chat_requests) == 35


def test_unparsable_judge_reply_counts_as_wrong_and_is_reported(
    run_bench: Any, locomo_file: Path, tmp_path: Path, openai_server: FakeOpenAIServer
) -> None:
    def reply(body: dict[str, Any]) -> str:
        prompt = body["messages"][-1]["content"]
        return "I think it is WRONG" if "CORRECT or WRONG" in prompt else "tuna"

    openai_server.chat_responder = reply
    out = tmp_path / "qa.json"
    run_bench(
        "qa --dataset locomo --sample s1 --llm none --embedder hash --max-questions 2",
        *("--data", str(locomo_file), "--answer-llm", llm_spec(openai_server)),
        *("--json", str(out)),
    )
    q = json.loads(out.read_text())["systems"]["lightmem"]["qa"]
    assert q["by_category"]["overall"]["n"] == 2
    assert q["by_category"]["overall"]["judge"] == 0.0
    assert q["judge_unparsable"] == 2
    assert q["questions"][0]["judge_raw"] == "I think it is WRONG"


def test_longmemeval_qa_uses_type_and_abstention_prompts(
    run_bench: Any, longmemeval_file: Path, tmp_path: Path, openai_server: FakeOpenAIServer
) -> None:
    openai_server.chat_responder = responder
    out = tmp_path / "qa.json"
    run_bench(
        "qa --dataset longmemeval --llm none --embedder hash",
        *("--data", str(longmemeval_file), "--answer-llm", llm_spec(openai_server)),
        *("--json", str(out)),
    )
    judged = [
        r.body
        for r in openai_server.chat_requests
        if "Answer yes or no only" in r.body["messages"][-1]["content"]
    ]
    assert len(judged) == 2 and all(b["max_tokens"] == 10 for b in judged)
    assert "unanswerable question" in judged[1]["messages"][0]["content"]
    answer = openai_server.chat_requests[0].body["messages"][-1]["content"]
    assert "Current date: 2023-05-30 23:40" in answer
    q = json.loads(out.read_text())["systems"]["lightmem"]["qa"]
    assert q["by_category"]["overall"]["n"] == 2  # abstention questions are judged too
    assert q["by_category"]["overall"]["judge"] == 1.0


def test_judge_requests_and_labels() -> None:
    messages, schema, max_tokens = judge_request("locomo", "4", "Q?", "gold", "resp")
    assert "Question: Q?\nGold answer: gold\nGenerated answer: resp" in messages[0].content
    assert schema is not None and max_tokens is None
    messages, schema, max_tokens = judge_request(
        "longmemeval", "multi-session", "Q?", "gold", "resp", abstention=True
    )
    assert messages[0].content == LONGMEMEVAL_ABSTENTION_PROMPT.format("Q?", "gold", "resp")
    assert schema is None and max_tokens == 10
    assert read_label("locomo", 'Reasoning... {"label": "CORRECT"}') is True
    assert read_label("locomo", '{"label": "WRONG"}') is False
    assert read_label("locomo", "CORRECT") is None
    assert read_label("longmemeval", "Yes, it is.") is True
    assert read_label("longmemeval", "No.") is False


def test_call_cache_key_covers_model_and_request() -> None:
    from lightmem.llm.base import ChatMessage

    m = [ChatMessage(role="user", content="hi")]
    k = CallCache.key("a", m, None, None)
    assert k == CallCache.key("a", list(m), None, None)
    assert k != CallCache.key("b", m, None, None)
    assert k != CallCache.key("a", m, None, 10)
    assert k != CallCache.key("a", [ChatMessage(role="user", content="hi!")], None, None)


def test_fit_context_drops_tail_or_oldest() -> None:
    units = [Unit(f"u{i} " + "word " * 20, [f"D1:{i}"]) for i in range(5)]
    kept, cut = fit_context(units, None, chronological=False)
    assert kept == units and not cut
    kept, cut = fit_context(units, 60, chronological=False)
    assert cut and kept == units[: len(kept)] and 1 <= len(kept) < 5
    kept, cut = fit_context(units, 60, chronological=True)
    assert cut and kept == units[-len(kept) :]
