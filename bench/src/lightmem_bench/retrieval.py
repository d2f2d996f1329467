"""Retrieval scoring of one question's ranked units, and the summaries, per dataset.

LoCoMo: hit@k and recall@k of the evidence ``dia_id``s (k = 5, 10, 20, 50), and hit/recall
at a token budget (500, 1000, 2000 words-plus-punctuation tokens of the unit texts, as
``shared/data/README.md`` counts them) so that big units cannot win by size. Questions
without evidence are left out (and counted); categories 1-4 make the headline, category 5
(adversarial) is reported apart.

LongMemEval: the official turn- and session-level ``recall_any@k``, ``recall_all@k`` and
``ndcg_any@k`` (k = 1, 3, 5, 10, 30, 50), ported in :mod:`lightmem_bench.metrics` from
xiaowu0162/LongMemEval ``src/retrieval/run_retrieval.py`` and ``eval_utils.py``: the corpus is
the user turns, named ``"{session_id}_{turn_index + 1}"``, with ``answer`` renamed
``noans`` for turns without ``has_answer``; the correct ids are those still containing
``answer``; session-level figures come from the turn ranking by the turn-to-session rule;
abstention (``_abs``) questions are left out of the averages (and counted).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lightmem.datasets import Conversation, Question
from lightmem_bench.metrics import (
    aggregate,
    count_budget_tokens,
    hit_at_budget,
    hit_at_k,
    ndcg_any_at_k,
    recall_all_at_k,
    recall_any_at_k,
    recall_at_budget,
    recall_at_k,
    session_k,
)
from lightmem_bench.systems.base import Unit

LOCOMO_KS = (5, 10, 20, 50)
BUDGETS = (500, 1000, 2000)
LONGMEMEVAL_KS = (1, 3, 5, 10, 30, 50)
ADVERSARIAL = "5"
#: LoCoMo category ids (reported by id; names for readers).
CATEGORY_NAMES = {
    "1": "multi-hop",
    "2": "temporal",
    "3": "open-domain",
    "4": "single-hop",
    "5": "adversarial",
}
#: How many refs of the top units each per-question row keeps, for audit.
KEEP_REFS = 10


def locomo_metric_names() -> list[str]:
    names = [f"{m}@{k}" for m in ("hit", "recall") for k in LOCOMO_KS]
    names += [f"{m}@{b}tok" for m in ("hit", "recall") for b in BUDGETS]
    return names


def score_locomo(question: Question, units: Sequence[Unit]) -> dict[str, Any]:
    """One row of metrics for a question with evidence."""
    ranked = [u.refs for u in units]
    tokens = [count_budget_tokens(u.text) for u in units]
    row: dict[str, Any] = {"id": question.id, "category": question.category}
    for k in LOCOMO_KS:
        row[f"hit@{k}"] = hit_at_k(ranked, question.evidence, k)
    for k in LOCOMO_KS:
        row[f"recall@{k}"] = recall_at_k(ranked, question.evidence, k)
    for b in BUDGETS:
        row[f"hit@{b}tok"] = hit_at_budget(ranked, tokens, question.evidence, b)
    for b in BUDGETS:
        row[f"recall@{b}tok"] = recall_at_budget(ranked, tokens, question.evidence, b)
    row["units_returned"] = len(units)
    row["units_tokens"] = sum(tokens)
    row["top_refs"] = [r for u in units[:KEEP_REFS] for r in u.refs][:KEEP_REFS]
    return row


def summarize_locomo(rows: Sequence[Mapping[str, Any]], skipped: int) -> dict[str, Any]:
    names = locomo_metric_names()
    main = [r for r in rows if r["category"] != ADVERSARIAL]
    adversarial = [r for r in rows if r["category"] == ADVERSARIAL]
    return {
        "headline": "categories 1-4, questions with evidence",
        "by_category": aggregate(main, by="category", metrics=names),
        "adversarial": aggregate(adversarial, by="category", metrics=names)["overall"],
        "excluded": {"no_evidence": skipped},
        "short_depth": sum(1 for r in rows if r["units_tokens"] < BUDGETS[-1]),
    }


@dataclass(frozen=True, slots=True)
class OfficialCorpus:
    """A LongMemEval instance's turn corpus as the official retrieval code names it."""

    ids: list[str]  # official ids of the user turns, in corpus order
    by_ref: dict[str, str]  # our turn ref -> official id (user turns only)
    correct: list[str]  # official ids that count as correct


def official_corpus(conv: Conversation) -> OfficialCorpus:
    ids: list[str] = []
    by_ref: dict[str, str] = {}
    for turn in conv.turns:
        if turn.role != "user":
            continue
        session, _, index = turn.ref.rpartition(":")
        doc = f"{session}_{int(index) + 1}"
        if "answer" in session and not turn.has_answer:
            doc = doc.replace("answer", "noans")
        ids.append(doc)
        by_ref[turn.ref] = doc
    correct = sorted({d for d in ids if "answer" in d})
    return OfficialCorpus(ids, by_ref, correct)


def official_ranking(units: Sequence[Unit], corpus: OfficialCorpus) -> tuple[list[str], int]:
    """The system's ranking of the whole corpus, as the official metrics need it.

    Units map to their user turns in rank order (first mention wins). The corpus turns the
    system did not return follow as many never-correct placeholders as there are such turns,
    so they sit past position ``len(corpus)``: a metric at k up to the corpus size counts
    only what the system ranked (past it every turn is in the top k, as in the official
    code, which ranks them all), and the ideal DCG still sees every relevant turn. Returns
    the ranking and how many turns the system ranked.
    """
    ranked: list[str] = []
    seen: set[str] = set()
    for unit in units:
        for ref in unit.refs:
            doc = corpus.by_ref.get(ref)
            if doc is not None and doc not in seen:
                seen.add(doc)
                ranked.append(doc)
    rest = [d for d in corpus.ids if d not in seen]
    return ranked + [f"<unranked-{i}>" for i in range(len(rest))] + rest, len(ranked)


def _session_of(doc: str) -> str:
    return doc if doc.startswith("<unranked-") else "_".join(doc.split("_")[:-1])


def score_longmemeval(
    question: Question, units: Sequence[Unit], corpus: OfficialCorpus
) -> dict[str, Any]:
    ranked, n_ranked = official_ranking(units, corpus)
    sessions = [_session_of(d) for d in ranked]
    correct_sessions = sorted({_session_of(d) for d in corpus.correct})
    row: dict[str, Any] = {
        "id": question.id,
        "category": question.category,
        "abstention": bool(question.extra.get("abstention")),
        "n_correct_turns": len(corpus.correct),
        "ranked_turns": n_ranked,
    }
    for k in LONGMEMEVAL_KS:
        row[f"turn.recall_any@{k}"] = recall_any_at_k(ranked, corpus.correct, k)
        row[f"turn.recall_all@{k}"] = recall_all_at_k(ranked, corpus.correct, k)
        row[f"turn.ndcg_any@{k}"] = ndcg_any_at_k(ranked, corpus.correct, k)
        ks = session_k(sessions, k)
        row[f"session.recall_any@{k}"] = recall_any_at_k(sessions, correct_sessions, ks)
        row[f"session.recall_all@{k}"] = recall_all_at_k(sessions, correct_sessions, ks)
        row[f"session.ndcg_any@{k}"] = ndcg_any_at_k(sessions, correct_sessions, ks)
    row["top_refs"] = [d for d in ranked[:KEEP_REFS] if not d.startswith("<unranked-")]
    return row


def longmemeval_metric_names() -> list[str]:
    return [
        f"{level}.{m}@{k}"
        for level in ("turn", "session")
        for m in ("recall_any", "recall_all", "ndcg_any")
        for k in LONGMEMEVAL_KS
    ]


def summarize_longmemeval(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    kept = [r for r in rows if not r["abstention"]]
    return {
        "headline": "official averages: abstention questions left out",
        "by_category": aggregate(kept, by="category", metrics=longmemeval_metric_names()),
        "excluded": {"abstention": len(rows) - len(kept)},
        "no_correct_turns": sum(1 for r in kept if r["n_correct_turns"] == 0),
    }
