"""LLM judging with the published prompts, and a disk cache for deterministic LLM calls.

* LoCoMo: Mem0's LLM-judge prompt, verbatim: ``ACCURACY_PROMPT`` in mem0ai/mem0
  ``evaluation/metrics/llm_judge.py``. The reply is JSON ``{"label": ...}``; the answer
  counts as correct only when the label is exactly ``CORRECT``, as there.
* LongMemEval: the per-question-type prompts of xiaowu0162/LongMemEval
  ``src/evaluation/evaluate_qa.py`` (``get_anscheck_prompt``), verbatim, sent as one user
  message with ``max_tokens = 10``; correct when ``"yes"`` is in the lower-cased reply.

A reply that cannot be read (no JSON label) is kept with ``label = None`` and counted as
wrong and as unparsable in the summary: never dropped.

:class:`CallCache` stores each call's reply and usage under the SHA-256 of the model name
and the full request (messages, schema, max_tokens), so a rerun asks the LLM nothing it
already answered and a judge verdict cannot drift between runs.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lightmem.llm.base import LLM, ChatMessage
from lightmem.llm.structured import salvage_json

# Mem0's LoCoMo judge, verbatim (mem0ai/mem0, evaluation/metrics/llm_judge.py,
# ACCURACY_PROMPT; typographic quotes as published).
LOCOMO_JUDGE_PROMPT = """
Your task is to label an answer to a question as ’CORRECT’ or ’WRONG’. You will be given the following data:
    (1) a question (posed by one user to another user), 
    (2) a ’gold’ (ground truth) answer, 
    (3) a generated answer
which you will score as CORRECT/WRONG.

The point of the question is to ask about something one user should know about the other user based on their prior conversations.
The gold answer will usually be a concise and short answer that includes the referenced topic, for example:
Question: Do you remember what I got the last time I went to Hawaii?
Gold answer: A shell necklace
The generated answer might be much longer, but you should be generous with your grading - as long as it touches on the same topic as the gold answer, it should be counted as CORRECT. 

For time related questions, the gold answer will be a specific date, month, year, etc. The generated answer might be much longer or use relative time references (like "last Tuesday" or "next month"), but you should be generous with your grading - as long as it refers to the same date or time period as the gold answer, it should be counted as CORRECT. Even if the format differs (e.g., "May 7th" vs "7 May"), consider it CORRECT if it's the same date.

Now it's time for the real question:
Question: {question}
Gold answer: {gold_answer}
Generated answer: {generated_answer}

First, provide a short (one sentence) explanation of your reasoning, then finish with CORRECT or WRONG. 
Do NOT include both CORRECT and WRONG in your response, or it will break the evaluation script.

Just return the label CORRECT or WRONG in a json format with the key as "label".
"""  # noqa: E501, W291

LOCOMO_LABEL_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"label": {"type": "string", "enum": ["CORRECT", "WRONG"]}},
    "required": ["label"],
}

# LongMemEval's judge prompts, verbatim (xiaowu0162/LongMemEval,
# src/evaluation/evaluate_qa.py, get_anscheck_prompt).
_LME_HEAD = (
    "I will give you a question, a correct answer, and a response from a model. Please answer "
    "yes if the response contains the correct answer. Otherwise, answer no. "
)
_LME_STEPS = (
    "If the response is equivalent to the correct answer or contains all the intermediate "
    "steps to get the correct answer, you should also answer yes. If the response only "
    "contains a subset of the information required by the answer, answer no. "
)
_LME_TAIL = (
    "\n\nQuestion: {}\n\nCorrect Answer: {}\n\nModel Response: {}\n\nIs the model response "
    "correct? Answer yes or no only."
)
LONGMEMEVAL_PROMPTS: dict[str, str] = {
    "single-session-user": _LME_HEAD + _LME_STEPS + _LME_TAIL,
    "single-session-assistant": _LME_HEAD + _LME_STEPS + _LME_TAIL,
    "multi-session": _LME_HEAD + _LME_STEPS + _LME_TAIL,
    "temporal-reasoning": _LME_HEAD
    + _LME_STEPS
    + "In addition, do not penalize off-by-one errors for the number of days. If the question "
    "asks for the number of days/weeks/months, etc., and the model makes off-by-one errors "
    "(e.g., predicting 19 days when the answer is 18), the model's response is still "
    "correct. " + _LME_TAIL,
    "knowledge-update": _LME_HEAD
    + "If the response contains some previous information along with an updated answer, the "
    "response should be considered as correct as long as the updated answer is the required "
    "answer." + _LME_TAIL,
    "single-session-preference": (
        "I will give you a question, a rubric for desired personalized response, and a "
        "response from a model. Please answer yes if the response satisfies the desired "
        "response. Otherwise, answer no. The model does not need to reflect all the points in "
        "the rubric. The response is correct as long as it recalls and utilizes the user's "
        "personal information correctly.\n\nQuestion: {}\n\nRubric: {}\n\nModel Response: "
        "{}\n\nIs the model response correct? Answer yes or no only."
    ),
}
LONGMEMEVAL_ABSTENTION_PROMPT = (
    "I will give you an unanswerable question, an explanation, and a response from a model. "
    "Please answer yes if the model correctly identifies the question as unanswerable. The "
    "model could say that the information is incomplete, or some other information is given "
    "but the asked information is not.\n\nQuestion: {}\n\nExplanation: {}\n\nModel Response: "
    "{}\n\nDoes the model correctly identify the question as unanswerable? Answer yes or no "
    "only."
)
LONGMEMEVAL_MAX_TOKENS = 10


@dataclass(slots=True)
class CallRecord:
    text: str
    tokens_in: int
    tokens_out: int
    seconds: float
    cached: bool
    model: str


class CallCache:
    """Replies of deterministic LLM calls on disk, keyed by model + request hash."""

    def __init__(self, root: Path | None) -> None:
        self.root = root
        self.hits = 0
        self.misses = 0

    @staticmethod
    def key(
        model: str,
        messages: list[ChatMessage],
        schema: dict[str, Any] | None,
        max_tokens: int | None,
    ) -> str:
        request = {
            "model": model,
            "messages": [[m.role, m.content] for m in messages],
            "schema": schema,
            "max_tokens": max_tokens,
        }
        blob = json.dumps(request, sort_keys=True, ensure_ascii=False).encode()
        return hashlib.sha256(blob).hexdigest()

    def _path(self, key: str) -> Path | None:
        return None if self.root is None else self.root / key[:2] / f"{key}.json"

    def complete(
        self,
        llm: LLM,
        messages: list[ChatMessage],
        *,
        schema: dict[str, Any] | None = None,
        max_tokens: int | None = None,
    ) -> CallRecord:
        """The cached reply if there is one, else the LLM's (then stored)."""
        model = llm.model_name
        path = self._path(self.key(model, messages, schema, max_tokens))
        if path is not None and path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            self.hits += 1
            return CallRecord(
                data["text"], data["tokens_in"], data["tokens_out"], data["seconds"], True, model
            )
        start = time.perf_counter()
        c = llm.complete(messages, schema=schema, max_tokens=max_tokens)
        seconds = c.seconds or (time.perf_counter() - start)
        self.misses += 1
        record = CallRecord(c.text, c.tokens_in, c.tokens_out, seconds, False, model)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            data = {
                "model": model,
                "text": c.text,
                "tokens_in": c.tokens_in,
                "tokens_out": c.tokens_out,
                "seconds": seconds,
            }
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
            tmp.replace(path)
        return record


@dataclass(slots=True)
class Verdict:
    label: bool | None  # None: the judge's reply could not be read
    raw: str
    record: CallRecord


def judge_request(
    dataset: str,
    category: str,
    question: str,
    gold: str,
    response: str,
    *,
    abstention: bool = False,
) -> tuple[list[ChatMessage], dict[str, Any] | None, int | None]:
    """The judge's messages, schema and max_tokens for one answer."""
    if dataset == "locomo":
        prompt = LOCOMO_JUDGE_PROMPT.format(
            question=question, gold_answer=gold, generated_answer=response
        )
        return [ChatMessage(role="user", content=prompt)], LOCOMO_LABEL_SCHEMA, None
    if abstention:
        template = LONGMEMEVAL_ABSTENTION_PROMPT
    else:
        try:
            template = LONGMEMEVAL_PROMPTS[category]
        except KeyError:
            raise ValueError(f"LongMemEval has no judge prompt for type {category!r}") from None
    prompt = template.format(question, gold, response)
    return [ChatMessage(role="user", content=prompt)], None, LONGMEMEVAL_MAX_TOKENS


def read_label(dataset: str, reply: str) -> bool | None:
    """The verdict in a judge's reply, the way each benchmark's own script reads it."""
    if dataset == "locomo":
        try:
            data = salvage_json(reply, expect="object")
        except ValueError:
            return None
        label = data.get("label") if isinstance(data, dict) else None
        return None if not isinstance(label, str) else label == "CORRECT"
    return "yes" in reply.lower()


def judge(
    llm: LLM,
    cache: CallCache,
    dataset: str,
    category: str,
    question: str,
    gold: str,
    response: str,
    *,
    abstention: bool = False,
) -> Verdict:
    messages, schema, max_tokens = judge_request(
        dataset, category, question, gold, response, abstention=abstention
    )
    record = cache.complete(llm, messages, schema=schema, max_tokens=max_tokens)
    return Verdict(read_label(dataset, record.text), record.text, record)
