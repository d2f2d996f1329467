"""Background consolidation jobs: scheduled by ``POST /v1/consolidate``, run after the
response, and kept (the most recent ones) so that a caller can see how each one ended."""

from __future__ import annotations

import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from lightmem.errors import NotFoundError
from lightmem.server.auth import Principal
from lightmem.server.errors import classify
from lightmem.types import ConsolidationResult, Scope

log = logging.getLogger("lightmem.server")

JobStatus = Literal["queued", "running", "done", "failed"]


@dataclass(slots=True)
class Job:
    id: str
    scope: Scope | None  # None: the whole store (admin)
    status: JobStatus = "queued"
    result: ConsolidationResult | None = None
    error_code: str | None = None
    error: str | None = None


class Jobs:
    def __init__(self, keep: int = 200) -> None:
        self._keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()

    def submit(self, scope: Scope | None) -> Job:
        job = Job(uuid.uuid4().hex, scope)
        with self._lock:
            self._jobs[job.id] = job
            while len(self._jobs) > self._keep:
                self._jobs.popitem(last=False)
        return job

    def run(self, job: Job, work: Callable[[], ConsolidationResult]) -> None:
        """Run ``work`` for ``job``; a failure is recorded on the job for the caller to read."""
        job.status = "running"
        try:
            job.result = work()
        except Exception as exc:  # noqa: BLE001 - recorded on the job, visible via GET
            _, job.error_code, job.error = classify(exc)
            job.status = "failed"
            log.error("consolidation job failed: %s", type(exc).__name__)
        else:
            job.status = "done"

    def get(self, job_id: str, principal: Principal) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        visible = job is not None and (
            principal.admin if job.scope is None else principal.allows(job.scope.owner)
        )
        if job is None or not visible:
            raise NotFoundError(f"no consolidation job with id {job_id!r}")
        return job
