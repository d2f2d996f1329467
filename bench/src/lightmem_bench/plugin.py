"""How the benchmark harness plugs into LightMem: ``lightmem bench ...`` through the
``lightmem.commands`` entry point (:func:`register_commands`), and the bench's fake LLMs
(``annotated``, ``plausible``) through ``lightmem.backends``, both declared in this
distribution's ``pyproject.toml``. A plain ``pip install lightmem`` has neither."""

from __future__ import annotations

import typer


def register_commands(app: typer.Typer) -> None:
    """Mount ``bench`` (retrieval, qa, cost, segmentation, perf, proxy, updates) on the
    ``lightmem`` app."""
    from lightmem_bench.cli import bench_app
    from lightmem_bench.perf.cli import perf
    from lightmem_bench.proxy.cli import proxy
    from lightmem_bench.segmentation.cli import segmentation
    from lightmem_bench.updates.cli import updates

    bench_app.command("segmentation")(segmentation)
    bench_app.command("perf")(perf)
    bench_app.command("proxy")(proxy)
    bench_app.command("updates")(updates)
    app.add_typer(bench_app, name="bench")
