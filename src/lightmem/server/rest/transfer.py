"""REST routes of export and import: JSON Lines of the records of a scope or pool (export)
and back (import, all or nothing, every record inside the key's own scopes)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from lightmem.errors import InputError
from lightmem.server.rest.deps import ERRORS, View
from lightmem.server.rest.schemas import ImportOut, ScopeIn

NDJSON = "application/x-ndjson"

router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get(
    "/export",
    tags=["transfer"],
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}, "description": "One JSON record per line."}},
)
def export(q: Annotated[ScopeIn, Query()], view: View) -> StreamingResponse:
    """Every record of a user/agent as JSON Lines (an admin naming nobody: the store),
    streamed as the store reads it, chunk by chunk (a large export in a process of its own,
    so that other tenants do not wait for it)."""
    # the first read is made here, in the request: a store that fails answers with its status
    return StreamingResponse(
        view.export_lines(user_id=q.user_id, agent_id=q.agent_id), media_type=NDJSON
    )


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
async def import_(request: Request, view: View) -> ImportOut:
    """Import an export; every record must lie in the key's scopes (admin: anything)."""
    records = _parse_jsonl(await request.body())
    n = await run_in_threadpool(view.import_records, records)
    return ImportOut(imported=n)


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
