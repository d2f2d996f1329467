"""The REST API fuzzed from its own OpenAPI schema (schemathesis, in-process ASGI) with
tenant A's key: valid and invalid requests to every operation, some steered at tenant B's
user and memory ids. No request may get a 500, and none may read or change B's memories.

``LIGHTMEM_SOAK=1`` raises the number of requests per operation.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from lightmem import Memory
from tests.support.soak import scaled

schemathesis = pytest.importorskip("schemathesis", reason="pip install schemathesis")
pytest.importorskip("fastapi", reason="pip install 'lightmem[server]'")

from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.core.failures import Failure, FailureGroup  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lightmem.server.keys import KeyStore  # noqa: E402
from lightmem.server.rest.app import create_app  # noqa: E402

CONFIG: dict[str, Any] = {
    "embedder": {"provider": "hash"},
    "llm": "none",
    "worker": {"background": True},
}
BOB_TEXTS = [
    "bob's bank PIN is 4921 and he hides it under the zebra rug",
    "bob walks his dog Rex every morning",
]
#: Words only bob's memories hold.
BOB_WORDS = ("zebra", "PIN is", "Rex")
#: Values a request may name instead of its own user: bob himself and near-misses.
USER_TRICKS = ["bob", "BOB", "bob ", "*", "%", "' OR 1=1 --", "alice", None]
#: Schema conformance: what they find is collected and printed, not failed on (the must-holds
#: are no 500 and no cross-tenant read).
CONFORMANCE = [status_code_conformance, content_type_conformance, response_schema_conformance]


def bob_state(memory: Memory) -> list[str]:
    """Everything of bob's (turns, entries, history), as exported."""
    return sorted(json.dumps(r, sort_keys=True) for r in memory.export(user_id="bob"))


def seed(memory: Memory, user: str, texts: list[str]) -> list[str]:
    memory.add([{"role": "user", "content": t} for t in texts], user_id=user)
    memory.flush(user_id=user)
    return [e.id for e in memory.get_all(user_id=user)]


def steer(case: Any, user: str | None, memory_id: str | None) -> None:
    """Point a generated request at another tenant's ids (where it names any)."""
    params = case.path_parameters
    if memory_id is not None and isinstance(params, dict) and "memory_id" in params:
        params["memory_id"] = memory_id
    for part in (case.query, case.body):
        if isinstance(part, dict) and "user_id" in part:
            if user is None:
                del part["user_id"]
            else:
                part["user_id"] = user


def test_fuzzed_requests_get_no_500_and_never_cross_tenants(tmp_path: Path) -> None:
    memory = Memory(tmp_path / "store", config=CONFIG)
    keys = KeyStore.for_memory(memory)
    alice_key, _ = keys.create(users=["alice"], name="alice")
    keys.create(users=["bob"], name="bob")
    bob_ids = seed(memory, "bob", BOB_TEXTS)
    alice_ids = seed(memory, "alice", ["alice plays the cello in an orchestra"])
    bob_turns = [t.id for t in memory.turns(user_id="bob")]
    secrets = [*BOB_WORDS, *bob_ids, *bob_turns]
    bob_before = bob_state(memory)

    # POST /v1/import takes JSON Lines: send the generated string as it is.
    schemathesis.serializer.alias("application/x-ndjson", "text/plain")
    app = create_app(memory, keys)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    auth = {"Authorization": f"Bearer {alice_key}"}
    per_operation = scaled(12, 150)
    statuses: Counter[int] = Counter()
    problems: dict[str, str] = {}
    started = time.monotonic()

    operations = [op.ok() for op in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=per_operation,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(
                case=operation.as_strategy(generation_mode=mode),
                user=st.sampled_from(USER_TRICKS),
                memory_id=st.sampled_from([None, *bob_ids, *alice_ids]),
                steered=st.booleans(),
            )
            def fuzz(case: Any, user: str | None, memory_id: str | None, steered: bool) -> None:
                if steered:
                    steer(case, user, memory_id)
                response = case.call(headers=auth)
                statuses[response.status_code] += 1
                # An id the request itself sent may be echoed back ("no memory with id ...").
                sent = json.dumps([case.path_parameters, case.query, case.body], default=str)
                leaked = [s for s in secrets if s in response.text and s not in sent]
                assert not leaked, f"{case.operation.label} leaked bob's {leaked}"
                case.validate_response(response, checks=[not_a_server_error], headers=auth)
                try:
                    case.validate_response(response, checks=CONFORMANCE, headers=auth)
                except (Failure, FailureGroup) as exc:
                    found = exc.exceptions if isinstance(exc, FailureGroup) else (exc,)
                    for failure in found:
                        key = f"{case.operation.label} -> {response.status_code}"
                        problems[key] = f"{failure.title}: {failure.message[:300]}"

            try:
                fuzz()
            except Unsatisfiable:
                # an operation with no input at all (GET /v1/health) has no invalid request
                assert mode == GenerationMode.NEGATIVE, operation.label

    seconds = time.monotonic() - started
    assert memory.wait(timeout=300)
    assert bob_state(memory) == bob_before, "fuzzing with alice's key changed bob's records"
    for hit in memory.search("bank PIN zebra rug dog", user_id="alice"):
        assert not any(w in hit.text for w in BOB_WORDS)
    memory.close()
    total = sum(statuses.values())
    print(f"\nrequests={total} by_status={dict(sorted(statuses.items()))} s={seconds:.1f}")
    for where, what in sorted(problems.items()):
        print(f"schema conformance: {where}: {what}")
    assert not statuses.keys() & set(range(500, 600)), statuses
