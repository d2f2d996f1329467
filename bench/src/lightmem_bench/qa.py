"""Question answering over a built memory: retrieve, answer, judge, score.

Every system gets the same answer prompt and the same reader model; only the context
differs (the top-k units, or the whole history for ``full-text``). ``max_context_tokens``
caps every context the same way (the lowest-ranked units go first; for the whole history,
the oldest turns) and each row says whether it was cut. LoCoMo category 5 (adversarial) is
left out, as Mem0's evaluation does, and counted. Raw replies and judge outputs are kept in
the rows.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lightmem.datasets import Conversation, Question
from lightmem.errors import ProviderError
from lightmem.llm.base import LLM, ChatMessage
from lightmem.llm.structured import strip_reasoning
from lightmem.tokens import count_tokens
from lightmem_bench.cost import spread
from lightmem_bench.judge import CallCache, judge
from lightmem_bench.metrics import aggregate
from lightmem_bench.systems.base import BuiltMemory, Unit
from lightmem_bench.textscore import bleu1, token_f1

ANSWER_SYSTEM = (
    "You answer a question about a long conversation using only the memories given. The "
    "memories are dated; resolve relative dates against them. Reply with the answer alone, "
    "in a few words. If the memories do not hold it, reply: I don't know."
)
ANSWER_MAX_TOKENS = 64
ADVERSARIAL = "5"


@dataclass(slots=True)
class QASettings:
    answer_llm: LLM
    judge_llm: LLM
    cache: CallCache
    top_k: int = 10
    max_context_tokens: int | None = None
    max_questions: int | None = None


def _date(ts: datetime | None) -> str:
    return ts.strftime("%Y-%m-%d %H:%M") if ts is not None else "undated"


def render_unit(unit: Unit) -> str:
    return f"- [{_date(unit.timestamp)}] {' '.join(unit.text.split())}"


def fit_context(
    units: Sequence[Unit], max_tokens: int | None, *, chronological: bool
) -> tuple[list[Unit], bool]:
    """The units that fit in ``max_tokens`` cl100k tokens (rendered), and whether any were
    dropped: ranked lists lose their tail, a chronological history its oldest turns."""
    kept = list(units)
    if max_tokens is None:
        return kept, False
    order = kept[::-1] if chronological else kept
    used, fitted = 0, []
    for unit in order:
        tokens = count_tokens(render_unit(unit)) + 1
        if used + tokens > max_tokens:
            break
        fitted.append(unit)
        used += tokens
    if chronological:
        fitted.reverse()
    return fitted, len(fitted) < len(kept)


def answer_messages(question: Question, units: Sequence[Unit]) -> list[ChatMessage]:
    lines = ["Memories:", *(render_unit(u) for u in units), ""]
    if question.question_date is not None:
        lines.append(f"Current date: {_date(question.question_date)}")
    lines += [f"Question: {question.question}", "Answer:"]
    return [
        ChatMessage(role="system", content=ANSWER_SYSTEM),
        ChatMessage(role="user", content="\n".join(lines)),
    ]


def qa_questions(conv: Conversation, dataset: str) -> tuple[list[Question], int]:
    """The questions to answer, and how many adversarial ones were left out."""
    if dataset != "locomo":
        return list(conv.questions), 0
    kept = [q for q in conv.questions if q.category != ADVERSARIAL and q.answer is not None]
    return kept, len(conv.questions) - len(kept)


def answer_one(
    built: BuiltMemory, question: Question, dataset: str, s: QASettings
) -> dict[str, Any]:
    start = time.perf_counter()
    units = built.answer_context(question.question, s.top_k)
    search_ms = (time.perf_counter() - start) * 1000
    units, truncated = fit_context(units, s.max_context_tokens, chronological=built.chronological)
    messages = answer_messages(question, units)
    row: dict[str, Any] = {
        "id": question.id,
        "category": question.category,
        "question": question.question,
        "gold": question.answer,
        "context_units": len(units),
        "context_tokens": sum(count_tokens(render_unit(u)) for u in units),
        "context_truncated": truncated,
        "search_ms": round(search_ms, 3),
        "context_refs": [r for u in units for r in u.refs][:50],
    }
    try:
        reply = s.cache.complete(s.answer_llm, messages, max_tokens=ANSWER_MAX_TOKENS)
    except ProviderError as exc:
        row.update(
            answer_raw=None,
            answer=None,
            error=f"answer: {exc}",
            judge=0.0,
            judge_label=None,
            judge_raw=None,
            f1=0.0,
            bleu1=0.0,
        )
        return row
    answer = strip_reasoning(reply.text).strip()
    row.update(
        answer_raw=reply.text,
        answer=answer,
        answer_cached=reply.cached,
        answer_tokens_in=reply.tokens_in,
        answer_tokens_out=reply.tokens_out,
        answer_seconds=round(reply.seconds, 3),
    )
    gold = question.answer or ""
    row["f1"] = token_f1(answer, gold)
    row["bleu1"] = bleu1(answer, gold)
    try:
        verdict = judge(
            s.judge_llm,
            s.cache,
            dataset,
            question.category,
            question.question,
            gold,
            answer,
            abstention=bool(question.extra.get("abstention")),
        )
    except ProviderError as exc:
        row.update(judge=0.0, judge_label=None, judge_raw=None, error=f"judge: {exc}")
        return row
    row.update(
        judge=1.0 if verdict.label else 0.0,
        judge_label=verdict.label,
        judge_raw=verdict.raw,
        judge_cached=verdict.record.cached,
        judge_tokens_in=verdict.record.tokens_in,
        judge_tokens_out=verdict.record.tokens_out,
        judge_seconds=round(verdict.record.seconds, 3),
    )
    return row


def summarize_qa(rows: Sequence[dict[str, Any]], excluded: int) -> dict[str, Any]:
    """Accuracy (judge), F1 and BLEU-1 overall and per category, plus the QA cost."""

    def usage(prefix: str) -> dict[str, Any]:
        done = [r for r in rows if f"{prefix}_tokens_in" in r]
        return {
            "calls": len(done),
            "from_cache": sum(1 for r in done if r.get(f"{prefix}_cached")),
            "tokens_in": sum(r[f"{prefix}_tokens_in"] for r in done),
            "tokens_out": sum(r[f"{prefix}_tokens_out"] for r in done),
            "llm_seconds": round(sum(r[f"{prefix}_seconds"] for r in done), 3),
        }

    return {
        "by_category": aggregate(rows, by="category", metrics=["judge", "f1", "bleu1"]),
        "excluded": {"adversarial_or_no_answer": excluded},
        "errors": sum(1 for r in rows if r.get("error")),
        "judge_unparsable": sum(
            1
            for r in rows
            if "judge_raw" in r and r["judge_raw"] is not None and r["judge_label"] is None
        ),
        "context_truncated": sum(1 for r in rows if r["context_truncated"]),
        "cost": {
            "answer": usage("answer"),
            "judge": usage("judge"),
            "context_tokens": spread([float(r["context_tokens"]) for r in rows]),
            "search_ms": spread([float(r["search_ms"]) for r in rows]),
        },
    }
