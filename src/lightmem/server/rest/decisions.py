"""``GET /v1/memories/{id}/decisions``: the consolidation decisions that touched a memory,
as target (it was reconsidered against a newer one) or as source, ``ignore`` too. The
memory browser shows them beside the history."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from lightmem.server.rest.deps import ERRORS, NOT_FOUND, View
from lightmem.server.rest.schemas import MemoryId
from lightmem.types import DecisionRecord

router = APIRouter(prefix="/v1", responses=ERRORS)


class DecisionOut(BaseModel):
    target_id: str = Field(description="The older memory that was reconsidered.")
    source_id: str = Field(description="The newer memory it was weighed against.")
    decision: str | None = Field(
        description="update, delete, merge or ignore; null for a pair decided before the "
        "store kept decisions."
    )
    reason: str | None
    decided_at: datetime | None
    other_text: str | None = Field(description="The text of the other memory of the pair.")

    @classmethod
    def of(cls, d: DecisionRecord, other_text: str | None) -> DecisionOut:
        return cls(
            target_id=d.target_id,
            source_id=d.source_id,
            decision=d.decision,
            reason=d.reason,
            decided_at=d.decided_at,
            other_text=other_text,
        )


class DecisionsOut(BaseModel):
    decisions: list[DecisionOut]


@router.get("/memories/{memory_id}/decisions", tags=["memories"], responses=NOT_FOUND)
def decisions(memory_id: MemoryId, view: View) -> DecisionsOut:
    """Every consolidation decision about a pair the memory is in, oldest first."""
    found = view.decisions(memory_id)
    return DecisionsOut(decisions=[DecisionOut.of(d, other) for d, other in found])
