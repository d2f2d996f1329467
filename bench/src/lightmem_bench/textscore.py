"""Lexical answer scores: token F1 and BLEU-1, pure functions.

Token F1 follows LoCoMo's ``task_eval/evaluation.py`` (snap-research/LoCoMo): lower-case,
drop commas and punctuation, drop the words ``a``, ``an``, ``the`` and ``and``, then the F1
of the bag-of-words overlap. LoCoMo also Porter-stems each word; we do not (no NLTK), so
"running" and "run" do not match here.

BLEU-1 is the sentence BLEU with unigram weights only, as Mem0's evaluation reports it
(``bleu1``): brevity penalty times the clipped unigram precision, over lower-cased word and
punctuation tokens. With no overlap it is 0.0 (NLTK's ``method1`` smoothing would add 0.1
to the zero count instead).
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter

_ARTICLES = re.compile(r"\b(a|an|the|and)\b")
_PUNCT = frozenset(string.punctuation)
_TOKENS = re.compile(r"\w+|[^\w\s]", re.UNICODE)


def normalize_answer(text: str) -> str:
    """LoCoMo's answer normalisation (without stemming)."""
    text = text.replace(",", "").lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    return " ".join(_ARTICLES.sub(" ", text).split())


def token_f1(prediction: str, gold: str) -> float:
    """F1 of the normalised words of ``prediction`` against ``gold``."""
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(gold).split()
    same = sum((Counter(pred) & Counter(ref)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred)
    recall = same / len(ref)
    return 2 * precision * recall / (precision + recall)


def bleu1(prediction: str, gold: str) -> float:
    """Sentence BLEU-1: brevity penalty x clipped unigram precision."""
    pred = _TOKENS.findall(prediction.lower())
    ref = _TOKENS.findall(gold.lower())
    if not pred or not ref:
        return 0.0
    clipped = sum((Counter(pred) & Counter(ref)).values())
    precision = clipped / len(pred)
    penalty = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    return penalty * precision
