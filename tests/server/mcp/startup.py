"""How long an MCP client waits for `lightmem mcp` over stdio: the server started, the
session initialised, one `search_memory` answered. The test below and the figures in
reports/mcp-startup.md both use it::

    python -m tests.server.mcp.startup STORE [RUNS]   # from the repository root
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters

LIGHTMEM = Path(sys.executable).with_name("lightmem")


@dataclass(frozen=True, slots=True)
class Timing:
    start: float  # spawn to initialised session
    first_call: float  # the first search_memory
    text: str  # its answer

    @property
    def total(self) -> float:
        return self.start + self.first_call


def measure(store: Path, user: str = "alice", query: str = "what do I like") -> Timing:
    params = StdioServerParameters(
        command=str(LIGHTMEM),
        args=["--store", str(store), "mcp", "--user", user],
        env={"HF_HUB_OFFLINE": "1"},
    )

    async def main() -> Timing:
        began = time.perf_counter()
        async with Client(params) as client:
            ready = time.perf_counter()
            result = await client.call_tool("search_memory", {"query": query})
            done = time.perf_counter()
        if result.is_error:
            raise RuntimeError(result.content[0].text)  # type: ignore[union-attr]
        text = str(result.structured_content)
        return Timing(ready - began, done - ready, text)

    return anyio.run(main)


def main(argv: list[str]) -> None:
    store, runs = Path(argv[0]), int(argv[1]) if len(argv) > 1 else 7
    timings = [measure(store) for _ in range(runs)]
    for name in ("start", "first_call", "total"):
        values = [getattr(t, name) for t in timings]
        print(f"{name}: median {statistics.median(values):.2f} s, max {max(values):.2f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
