"""Retrieval metrics: pure functions over plain values.

*Units* are what a retriever returns, in rank order; each unit maps to the list of source
refs it covers (a raw turn covers one, a segment or an extracted fact may cover several).
``evidence`` is the set of gold refs of one question. A dangling evidence ref (one no turn
has) stays in the denominator: no unit covers it, so it counts as not retrieved.

The budget metrics follow ``shared/data/README.md``: the context is filled with ranked units
until the next one would pass the budget, tokens counted as words plus punctuation marks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from lightmem.errors import InputError
from lightmem.tokens import count_words


def hit_at_k(ranked_refs: Sequence[Sequence[str]], evidence: Collection[str], k: int) -> float:
    """1.0 if any evidence ref is covered by the first ``k`` units, else 0.0."""
    gold = _evidence(evidence)
    return 1.0 if gold & _covered(ranked_refs, _count(k, "k")) else 0.0


def recall_at_k(ranked_refs: Sequence[Sequence[str]], evidence: Collection[str], k: int) -> float:
    """The share of evidence refs covered by the first ``k`` units."""
    gold = _evidence(evidence)
    return len(gold & _covered(ranked_refs, _count(k, "k"))) / len(gold)


def budget_cut(units_tokens: Sequence[int], budget: int) -> int:
    """How many ranked units fit in ``budget`` tokens: units are taken in rank order until
    the next one would pass the budget (a unit that does not fit ends the context; smaller
    units ranked after it are not used to fill the gap)."""
    _count(budget, "budget")
    used = 0
    for i, tokens in enumerate(units_tokens):
        _count(tokens, "a unit's token count")
        if used + tokens > budget:
            return i
        used += tokens
    return len(units_tokens)


def hit_at_budget(
    ranked_refs: Sequence[Sequence[str]],
    units_tokens: Sequence[int],
    evidence: Collection[str],
    budget: int,
) -> float:
    """:func:`hit_at_k` over the units that fit in ``budget`` tokens."""
    _same_length(ranked_refs, units_tokens)
    return hit_at_k(ranked_refs, evidence, budget_cut(units_tokens, budget))


def recall_at_budget(
    ranked_refs: Sequence[Sequence[str]],
    units_tokens: Sequence[int],
    evidence: Collection[str],
    budget: int,
) -> float:
    """:func:`recall_at_k` over the units that fit in ``budget`` tokens."""
    _same_length(ranked_refs, units_tokens)
    return recall_at_k(ranked_refs, evidence, budget_cut(units_tokens, budget))


def count_budget_tokens(text: str) -> int:
    """Tokens as the README's budgets count them: words plus punctuation marks."""
    return count_words(text)


# --- LongMemEval's official retrieval metrics ---------------------------------------------
# Ported from xiaowu0162/LongMemEval, src/retrieval/eval_utils.py (``evaluate_retrieval``,
# ``ndcg``, ``dcg``, ``evaluate_retrieval_turn2session``) and the averaging in
# src/retrieval/run_retrieval.py. Differences from textbook definitions are kept on purpose so
# that figures compare with published ones:
# * ``ranked_ids`` is the whole corpus in ranked order (the official code ranks every corpus
#   item); the ideal DCG is computed from the relevances of all of it.
# * DCG discounts the item at 0-based rank i >= 1 by log2(i + 1), so ranks 1 and 2 are both
#   undiscounted.
# * With no correct ids, recall_any is 0.0, recall_all is 1.0 and nDCG is 0.0.
# * Turn-level corpus ids in the official code are "{session_id}_{turn_index + 1}" for user
#   turns only; session-level results from a turn ranking use :func:`session_k`.
# * The official averages leave out abstention questions (question_id containing "_abs"),
#   whose answer is not in the haystack: drop those rows before :func:`aggregate`.


def recall_any_at_k(ranked_ids: Sequence[str], correct_ids: Collection[str], k: int) -> float:
    """1.0 if any correct id is among the first ``k`` ranked ids (LongMemEval ``recall_any``)."""
    top = set(ranked_ids[: _count(k, "k")])
    return float(any(doc in top for doc in correct_ids))


def recall_all_at_k(ranked_ids: Sequence[str], correct_ids: Collection[str], k: int) -> float:
    """1.0 if every correct id is among the first ``k`` ranked ids (``recall_all``)."""
    top = set(ranked_ids[: _count(k, "k")])
    return float(all(doc in top for doc in correct_ids))


def ndcg_any_at_k(ranked_ids: Sequence[str], correct_ids: Collection[str], k: int) -> float:
    """LongMemEval's ``ndcg_any@k`` with binary relevance over the whole ranked corpus."""
    _count(k, "k")
    correct = set(correct_ids)
    relevances = [1.0 if doc in correct else 0.0 for doc in ranked_ids]
    ideal = _dcg(sorted(relevances, reverse=True)[:k])
    return 0.0 if ideal == 0 else _dcg(relevances[:k]) / ideal


def session_k(ranked_session_ids: Sequence[str], k: int) -> int:
    """The official turn-to-session rule: given the session id of each ranked turn, grow k
    until the first k' turns span ``k`` distinct sessions (or the ranking runs out); then
    evaluate the session ids with ``k'``."""
    effective = _count(k, "k")
    while effective <= len(ranked_session_ids) and len(set(ranked_session_ids[:effective])) < k:
        effective += 1
    return effective


# --- aggregation ---------------------------------------------------------------------------


def aggregate(
    per_question_rows: Iterable[Mapping[str, Any]],
    by: str = "category",
    metrics: Sequence[str] | None = None,
) -> dict[str, dict[str, float]]:
    """Means of each metric overall and per value of ``by``, each with its ``n``.

    ``metrics`` defaults to every numeric key of the first row other than ``by``. Returns
    ``{"overall": {"n": 383, "hit@10": 0.59, ...}, "1": {...}, "2": {...}, ...}`` with the
    groups in natural order ("2" before "10").
    """
    rows = list(per_question_rows)
    if not rows:
        return {"overall": {"n": 0}}
    names = list(metrics) if metrics is not None else _numeric_keys(rows[0], by)
    if "n" in names:
        raise InputError("a metric may not be called 'n' (it names the row count)")
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for i, row in enumerate(rows):
        if by not in row:
            raise InputError(f"row {i} has no {by!r} to group by")
        for name in names:
            value = row.get(name)
            if not isinstance(value, int | float):
                raise InputError(f"row {i}: metric {name!r} is missing or not a number")
        groups.setdefault(str(row[by]), []).append(row)
    result = {"overall": _means(rows, names)}
    for key in sorted(groups, key=_natural):
        result[key] = _means(groups[key], names)
    return result


def _dcg(relevances: Sequence[float]) -> float:
    if not relevances:
        return 0.0
    return relevances[0] + sum(rel / math.log2(i + 1) for i, rel in enumerate(relevances) if i)


def _means(rows: Sequence[Mapping[str, Any]], names: Sequence[str]) -> dict[str, float]:
    out: dict[str, float] = {"n": len(rows)}
    for name in names:
        out[name] = sum(float(row[name]) for row in rows) / len(rows)
    return out


def _numeric_keys(row: Mapping[str, Any], by: str) -> list[str]:
    return [k for k, v in row.items() if k != by and isinstance(v, int | float)]


def _natural(key: str) -> list[Any]:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in _DIGITS.split(key)]


_DIGITS = re.compile(r"(\d+)")


def _covered(ranked_refs: Sequence[Sequence[str]], n: int) -> set[str]:
    refs: set[str] = set()
    for unit in ranked_refs[:n]:
        if isinstance(unit, str):
            raise InputError("each ranked unit must be a list of refs, not a single string")
        refs.update(unit)
    return refs


def _evidence(evidence: Collection[str]) -> set[str]:
    gold = set(evidence)
    if not gold:
        raise InputError("the question has no evidence refs; leave it out of retrieval metrics")
    return gold


def _count(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InputError(f"{what} must be a non-negative integer, got {value!r}")
    return value


def _same_length(ranked_refs: Sequence[Sequence[str]], units_tokens: Sequence[int]) -> None:
    if len(ranked_refs) != len(units_tokens):
        raise InputError(
            f"{len(ranked_refs)} ranked units but {len(units_tokens)} token counts; "
            "give one count per unit"
        )
