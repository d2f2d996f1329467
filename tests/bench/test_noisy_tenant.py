"""``lightmem bench perf --noisy-tenant``: a large tenant's export, searches and forget on a
real ``lightmem serve`` while another tenant's calls are timed (hash embedder, a small store)."""

from __future__ import annotations

from lightmem_bench.perf.neighbour import OPERATIONS, neighbour_tables, run_noisy_tenant


def test_noisy_tenant_reports_each_operation_beside_the_idle_figure() -> None:
    result = run_noisy_tenant(
        [600],
        embedder={"provider": "hash", "options": {"dim": 32}},
        search_s=0.3,
        retrieval={"snapshot_min_rows": 500},
    )
    row = result["600"]
    assert set(row) == set(OPERATIONS)
    for name in OPERATIONS:
        r = row[name]
        assert r["idle"]["n"] == 100 and r["during"]["n"] >= 1
        assert r["ratio_p95"] == round(r["during"]["p95_ms"] / r["idle"]["p95_ms"], 2)
    # the export holds every memory with its turn (and their history); the forget takes the
    # notes that hold both words ("... item 7 on day 3", "... item 12 on day 7")
    assert row["export"]["lines"] >= 2 * 600
    assert row["forget"]["memories"] == len([j for j in range(600) if 7 in (j % 97, j % 31)])
    assert row["first_search"]["searches"] == 1 and row["search"]["searches"] >= 1
    # the server stopped with SIGTERM wrote the large tenant's index for the next one to read
    assert row["snapshot_search"]["snapshot_file"] is True
    ((title, head, rows),) = neighbour_tables(result)
    assert "another tenant" in title and head[0] == "memories"
    assert len(rows) == len(OPERATIONS) and rows[0][0] == "600"
