"""REST routes of the service and the pipeline: health, stats, flush and consolidation jobs.
Flush, consolidation and stats work on the key's own scopes (an admin naming nobody: the
whole store); a grant opens none of them."""

from __future__ import annotations

from functools import partial
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Query, Request

from lightmem import __version__
from lightmem.server.models import ConsolidationOut, ExtractionOut, ScopeOut
from lightmem.server.rest.deps import ERRORS, NOT_FOUND, Caller, Mem
from lightmem.server.rest.jobs import Jobs
from lightmem.server.rest.schemas import (
    ErrorDetail,
    FlushOut,
    HealthOut,
    JobOut,
    ScopeIn,
    StatsOut,
    UsageOut,
)
from lightmem.types import Scope

router = APIRouter(prefix="/v1", responses=ERRORS)


def _jobs(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


@router.get("/health", tags=["service"])
def health() -> HealthOut:
    """Liveness; needs no key."""
    return HealthOut(version=__version__)


@router.post("/flush", tags=["pipeline"])
def flush(caller: Caller, memory: Mem, body: ScopeIn | None = None) -> FlushOut:
    """Segment and extract everything buffered for the user/agent now (admin, naming
    nobody: the whole store)."""
    body = body or ScopeIn()
    scope = caller.optional_scope(body.user_id, body.agent_id)
    r = memory.flush(user_id=_uid(scope), agent_id=_aid(scope))
    return FlushOut(
        entries_created=r.entries_created,
        batches_done=r.batches_done,
        failed_batches=r.failed_batches,
        waiting_batches=r.waiting_batches,
        extraction=ExtractionOut.of(memory.llm_status(), admin=caller.admin),
    )


@router.post("/consolidate", status_code=202, tags=["pipeline"])
def consolidate(
    caller: Caller,
    memory: Mem,
    jobs: Annotated[Jobs, Depends(_jobs)],
    background: BackgroundTasks,
    body: ScopeIn | None = None,
) -> JobOut:
    """Schedule sleep-time consolidation; poll ``GET /v1/consolidate/{job_id}``."""
    body = body or ScopeIn()
    scope = caller.optional_scope(body.user_id, body.agent_id)
    job = jobs.submit(scope)
    background.add_task(
        jobs.run, job, partial(memory.consolidate, user_id=_uid(scope), agent_id=_aid(scope))
    )
    return JobOut(id=job.id, status=job.status)


@router.get("/consolidate/{job_id}", tags=["pipeline"], responses=NOT_FOUND)
def consolidation_job(job_id: str, caller: Caller, jobs: Annotated[Jobs, Depends(_jobs)]) -> JobOut:
    job = jobs.get(job_id, caller)
    return JobOut(
        id=job.id,
        status=job.status,
        result=ConsolidationOut.of(job.result) if job.result is not None else None,
        error=(
            ErrorDetail(code=job.error_code, message=job.error or "") if job.error_code else None
        ),
    )


@router.get("/stats", tags=["service"])
def stats(q: Annotated[ScopeIn, Query()], caller: Caller, memory: Mem) -> StatsOut:
    """Memory counts of a user/agent; an admin key also gets the store-wide LLM usage."""
    scope = caller.optional_scope(q.user_id, q.agent_id)
    active, deleted = memory.count(user_id=_uid(scope), agent_id=_aid(scope))
    return StatsOut(
        scope=None if scope is None else ScopeOut(user_id=scope.user_id, agent_id=scope.agent_id),
        memories=active,
        deleted_memories=deleted,
        llm_mode=memory.llm_mode,
        embedder=memory.embedder.model_id,
        usage=UsageOut.of(memory.usage()) if caller.admin else None,
        extraction=ExtractionOut.of(memory.llm_status(), admin=caller.admin),
    )


def _uid(scope: Scope | None) -> str | None:
    """The facade's user id; ``None`` scope (an admin naming nobody) means the whole store."""
    return None if scope is None else scope.user_id


def _aid(scope: Scope | None) -> str | None:
    return None if scope is None else scope.agent_id
