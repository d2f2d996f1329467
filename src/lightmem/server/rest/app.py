"""The REST API: FastAPI routes under ``/v1`` over one :class:`~lightmem.Memory`.

Every route takes its scope from the caller's API key (:mod:`lightmem.server.auth`); errors
become JSON in one place (:mod:`lightmem.server.errors`). ``add`` answers 202 once the turns
are durable (the Memory's background worker extracts); ``consolidate`` answers 202 and runs
after the response.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles

from lightmem import __version__
from lightmem.errors import ConfigError, InputError
from lightmem.memory import Memory
from lightmem.server import browser, decisions, forgetting, pools
from lightmem.server.auth import (
    Principal,
    check_import,
    is_pool,
    owned_entry,
    pool_scope,
    shared_pools,
)
from lightmem.server.deps import ERRORS as _ERRORS
from lightmem.server.deps import NOT_FOUND as _NOT_FOUND
from lightmem.server.deps import Caller, Mem
from lightmem.server.errors import install_error_handlers
from lightmem.server.jobs import Jobs
from lightmem.server.keys import KeyStore
from lightmem.server.middleware import (
    DEFAULT_BODY_TIMEOUT_S,
    DEFAULT_MAX_BODY_BYTES,
    AccessLog,
    BodyLimit,
    LoopbackGuard,
)
from lightmem.server.schemas import (
    AddIn,
    AddOut,
    ConsolidationOut,
    ContextIn,
    ContextOut,
    DeletedOut,
    DeleteQuery,
    ErrorDetail,
    FlushOut,
    HealthOut,
    HistoryListOut,
    HistoryOut,
    HitOut,
    ImportOut,
    JobOut,
    ListQuery,
    MemoriesOut,
    MemoryOut,
    RunScopeIn,
    ScopeIn,
    ScopeOut,
    SearchIn,
    SearchOut,
    StatsOut,
    UpdateIn,
    UsageOut,
)
from lightmem.sharing import context_pools, search_pools
from lightmem.types import Scope

NDJSON = "application/x-ndjson"


def mount_docs(app: FastAPI) -> None:
    """Swagger UI at ``/docs`` from the ``swagger-ui-bundle`` package's files (installed
    with ``lightmem[server]``), so the page works without network access."""
    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        return
    assets = Path(str(swagger_ui_path))
    app.mount("/docs/assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="LightMem API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )


def create_app(
    memory: Memory,
    keys: KeyStore | None,
    *,
    anonymous_until_keys: bool = False,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S,
) -> FastAPI:
    """The app over ``memory``. ``keys=None`` serves without authentication, to loopback
    clients only (the caller binds to loopback; ``lightmem serve`` checks it);
    ``anonymous_until_keys`` does so only while the store has no key: once one is created,
    every request needs a key."""
    if memory.config.worker.enabled and not memory.config.worker.background:
        raise ConfigError(
            "the server needs a Memory opened with worker.background = true (or "
            "worker.enabled = false, with `lightmem worker` processes), so that adding "
            "returns once turns are durable and extraction runs in the background"
        )
    app = FastAPI(
        title="LightMem",
        version=__version__,
        summary="Long-term memory for LLM applications and agents.",
        openapi_url="/openapi.json",
        docs_url=None,  # served below from local assets: no CDN, works offline
        redoc_url=None,
    )
    mount_docs(app)
    app.state.memory = memory
    app.state.keys = keys
    app.state.anonymous_until_keys = anonymous_until_keys
    app.state.jobs = Jobs()
    app.include_router(router)
    app.include_router(forgetting.router)
    app.include_router(pools.router)
    app.include_router(decisions.router)
    browser.mount(app)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes, timeout_s=body_timeout_s)
    if keys is None or anonymous_until_keys:
        app.add_middleware(LoopbackGuard)
    app.add_middleware(AccessLog)
    return app


# -- dependencies -------------------------------------------------------------------------------
def _jobs(request: Request) -> Jobs:
    jobs: Jobs = request.app.state.jobs
    return jobs


router = APIRouter(prefix="/v1", responses=_ERRORS)


# -- routes ---------------------------------------------------------------------------------------
@router.get("/health", tags=["service"])
def health() -> HealthOut:
    """Liveness; needs no key."""
    return HealthOut(version=__version__)


@router.post("/memories", status_code=202, tags=["memories"])
def add(
    body: AddIn,
    caller: Caller,
    memory: Mem,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias="Idempotency-Key",
            max_length=256,
            description="Retry-safe adds: the same key and body store once and answer the "
            "first result; the same key with another body is 409 conflict.",
        ),
    ] = None,
) -> AddOut:
    """Store messages durably; extraction runs in the background."""
    scope = pool_scope(memory, caller, body.user_id, body.agent_id, body.run_id, need="write")
    messages: Any = (
        body.messages
        if isinstance(body.messages, str)
        else [m.model_dump(exclude_none=True) for m in _as_list(body.messages)]
    )
    result = memory.add(
        messages,
        user_id=scope.user_id,
        agent_id=scope.agent_id,
        run_id=scope.run_id,
        timestamp=body.timestamp,
        idempotency_key=idempotency_key,
        author=_author(caller, scope),
    )
    return AddOut(turn_ids=result.turn_ids, replayed=result.replayed)


@router.post("/search", tags=["memories"])
def search(body: SearchIn, caller: Caller, memory: Mem) -> SearchOut:
    """With ``shared``: the key's scope and every pool granted to it, in one ranking."""
    scope = pool_scope(memory, caller, body.user_id, body.agent_id, body.run_id, need="read")
    time_range = body.time_range
    if body.shared:
        pools = shared_pools(memory, caller, scope)
        limit = body.limit or memory.config.retrieval.limit
        hits = search_pools(
            memory, body.query, pools, limit=limit, mode=body.mode, time_range=time_range
        )
    else:
        hits = memory.search(
            body.query,
            user_id=scope.user_id,
            agent_id=scope.agent_id,
            run_id=scope.run_id,
            limit=body.limit,
            mode=body.mode,
            time_range=time_range,
        )
    return SearchOut(results=[HitOut.of(h) for h in hits])


@router.post("/context", tags=["memories"])
def context(body: ContextIn, caller: Caller, memory: Mem) -> ContextOut:
    """The prompt-ready block for a query, packed into a token budget."""
    scope = pool_scope(memory, caller, body.user_id, body.agent_id, body.run_id, need="read")
    if body.shared:
        pools = shared_pools(memory, caller, scope)
        time_range = body.time_range
        block = context_pools(
            memory,
            body.query,
            pools,
            budget_tokens=body.budget_tokens,
            mode=body.mode,
            time_range=time_range,
            hierarchical=body.hierarchical,
        )
        return ContextOut.of(block)
    block = memory.context(
        body.query,
        budget_tokens=body.budget_tokens,
        user_id=scope.user_id,
        agent_id=scope.agent_id,
        run_id=scope.run_id,
        mode=body.mode,
        time_range=body.time_range,
        hierarchical=body.hierarchical,
    )
    return ContextOut.of(block)


@router.get("/memories", tags=["memories"])
def list_memories(q: Annotated[ListQuery, Query()], caller: Caller, memory: Mem) -> MemoriesOut:
    scope = pool_scope(memory, caller, q.user_id, q.agent_id, q.run_id, need="read")
    entries = memory.get_all(
        user_id=scope.user_id,
        agent_id=scope.agent_id,
        run_id=scope.run_id,
        limit=q.limit,
        include_deleted=q.include_deleted,
    )
    return MemoriesOut(memories=[MemoryOut.of(e) for e in entries])


@router.delete("/memories", tags=["memories"])
def delete_all(q: Annotated[RunScopeIn, Query()], caller: Caller, memory: Mem) -> DeletedOut:
    """Purge a user/agent (or one run of it): turns, memories, history."""
    scope = caller.scope(q.user_id, q.agent_id, q.run_id)
    n = memory.delete_all(user_id=scope.user_id, agent_id=scope.agent_id, run_id=scope.run_id)
    return DeletedOut(deleted=n)


@router.get("/memories/{memory_id}", tags=["memories"], responses=_NOT_FOUND)
def get(memory_id: str, caller: Caller, memory: Mem) -> MemoryOut:
    return MemoryOut.of(owned_entry(memory, caller, memory_id))


@router.patch("/memories/{memory_id}", tags=["memories"], responses=_NOT_FOUND)
def update(memory_id: str, body: UpdateIn, caller: Caller, memory: Mem) -> MemoryOut:
    entry = owned_entry(memory, caller, memory_id, "write")
    actor = _author(caller, entry.scope) or "user"
    return MemoryOut.of(memory.update(memory_id, body.text, reason=body.reason, actor=actor))


@router.delete(
    "/memories/{memory_id}",
    status_code=204,
    response_class=Response,
    tags=["memories"],
    responses=_NOT_FOUND,
)
def delete(memory_id: str, q: Annotated[DeleteQuery, Query()], caller: Caller, memory: Mem) -> None:
    """Soft delete: the memory is kept as a tombstone with its history."""
    entry = owned_entry(memory, caller, memory_id, "write")
    memory.delete(memory_id, reason=q.reason, actor=_author(caller, entry.scope) or "user")


@router.get("/memories/{memory_id}/history", tags=["memories"], responses=_NOT_FOUND)
def history(memory_id: str, caller: Caller, memory: Mem) -> HistoryListOut:
    owned_entry(memory, caller, memory_id)
    return HistoryListOut(history=[HistoryOut.of(r) for r in memory.history(memory_id)])


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


@router.get("/consolidate/{job_id}", tags=["pipeline"], responses=_NOT_FOUND)
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
    active = memory.store.count_entries(scope)
    total = memory.store.count_entries(scope, include_deleted=True)
    return StatsOut(
        scope=None if scope is None else ScopeOut(user_id=scope.user_id, agent_id=scope.agent_id),
        memories=active,
        deleted_memories=total - active,
        llm_mode=memory.llm_mode,
        embedder=memory.embedder.model_id,
        usage=UsageOut.of(memory.usage()) if caller.admin else None,
    )


@router.get(
    "/export",
    tags=["transfer"],
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}, "description": "One JSON record per line."}},
)
def export(q: Annotated[ScopeIn, Query()], caller: Caller, memory: Mem) -> StreamingResponse:
    """Every record of a user/agent as JSON Lines (an admin naming nobody: the store)."""
    scope = (
        caller.optional_scope(q.user_id, q.agent_id)
        if caller.admin
        else pool_scope(memory, caller, q.user_id, q.agent_id, need="read")
    )
    records = list(memory.export(user_id=_uid(scope), agent_id=_aid(scope)))
    return StreamingResponse(_lines(records), media_type=NDJSON)


@router.post(
    "/import",
    tags=["transfer"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                NDJSON: {
                    "schema": {
                        "type": "string",
                        "description": "Records of `GET /v1/export`, one per line.",
                    }
                }
            },
        }
    },
)
async def import_(request: Request, caller: Caller, memory: Mem) -> ImportOut:
    """Import an export; every record must lie in the key's scopes (admin: anything)."""
    records = _parse_jsonl(await request.body())
    check_import(caller, records)
    n = await run_in_threadpool(memory.import_records, records)
    return ImportOut(imported=n)


# -- helpers --------------------------------------------------------------------------------------
def _author(caller: Principal, scope: Scope) -> str | None:
    """Who a write into someone else's pool is attributed to (None: the owner writes)."""
    return f"key:{caller.name}" if is_pool(caller, scope) else None


def _uid(scope: Scope | None) -> str | None:
    """The facade's user id; ``None`` scope (an admin naming nobody) means the whole store."""
    return None if scope is None else scope.user_id


def _aid(scope: Scope | None) -> str | None:
    return None if scope is None else scope.agent_id


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _lines(records: list[dict[str, Any]]) -> Iterator[str]:
    for rec in records:
        yield json.dumps(rec, ensure_ascii=False) + "\n"


def _parse_jsonl(body: bytes) -> list[dict[str, Any]]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InputError("the import body must be UTF-8 JSON Lines") from None
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"import line {n} is not JSON: {exc.msg}") from None
        except RecursionError:
            raise InputError(f"import line {n} is nested too deeply to be a record") from None
        if not isinstance(rec, dict):
            raise InputError(f"import line {n} must be a JSON object")
        records.append(rec)
    if not records:
        raise InputError("the import body holds no records")
    return records
