"""Several sleep-time targets decided in ONE call: the prompt, the reply schema and the
packing of targets into calls bounded by tokens. Pure functions over plain values.

A pack of one target uses the single-target prompt of :mod:`lightmem.longterm.consolidation`
(so ``max_targets_per_call = 1`` is the one-by-one run); a pack of several asks for one
decision per numbered target, and a reply that leaves a target out (or names one twice) is
re-asked with the error, like any reply that does not validate.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict, model_validator

from lightmem.tokens import count_tokens

BATCH_UPDATE_PROMPT = (
    "You maintain a memory store. Each numbered TARGET below is an OLD memory followed by "
    "NEWER memories about the same subject. For EACH target decide what happens to its OLD "
    "memory: 'update' when the newer ones add to it (give the merged text, standalone, "
    "keeping every still-true detail and dates), 'replace' when they say it changed since "
    "(it was true until then: a new job, city, partner), 'delete' when they show it was "
    "wrong or fully repeat it, 'ignore' when it stays as it is. Answer JSON "
    '{"decisions": [{"target", "action", "text", "reason"}]}, one decision per target.'
)
TARGET_HEADER = re.compile(r"^TARGET (\d+)$", re.MULTILINE)


def target_block(number: int, old_line: str, newer_lines: Sequence[str]) -> str:
    """One target as the batched prompt shows it."""
    return "\n".join([f"TARGET {number}", old_line, "NEWER:", *newer_lines])


def pack_sizes(costs: Sequence[int], max_tokens: int, max_targets: int) -> list[int]:
    """Split targets (in order, each with its prompt ``costs`` in tokens) into consecutive
    packs of at most ``max_targets`` and at most ``max_tokens`` (a target bigger than the
    budget goes alone); returns the pack sizes."""
    sizes: list[int] = []
    count = used = 0
    for cost in costs:
        if count and (count >= max_targets or used + cost > max_tokens):
            sizes.append(count)
            count = used = 0
        count += 1
        used += cost
    if count:
        sizes.append(count)
    return sizes


def block_tokens(block: str) -> int:
    return count_tokens(block) + 2  # the blank line between targets


def target_numbers(prompt: str) -> list[int]:
    """The target numbers of a batched prompt (for fakes that answer it)."""
    return [int(n) for n in TARGET_HEADER.findall(prompt)]


def reply_model(n: int, item: type[BaseModel]) -> type[BaseModel]:
    """The reply schema of a pack of ``n`` targets: a list of ``item`` (a decision with a
    ``target`` number), exactly one for each of 1..n."""

    class BatchReply(BaseModel):
        model_config = ConfigDict(extra="ignore")
        decisions: list[item]  # type: ignore[valid-type]

        @model_validator(mode="after")
        def _one_per_target(self) -> BatchReply:
            seen: list[int] = [d.target for d in self.decisions]  # type: ignore[attr-defined]
            missing = sorted(set(range(1, n + 1)) - set(seen))
            extra = sorted({t for t in seen if not 1 <= t <= n or seen.count(t) > 1})
            if missing or extra:
                raise ValueError(
                    f"give exactly one decision for each target 1..{n}"
                    + (f"; missing {missing}" if missing else "")
                    + (f"; unknown or repeated {extra}" if extra else "")
                )
            return self

    return BatchReply
