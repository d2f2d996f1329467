"""``lightmem bench perf``: the store performance benchmark (``run``), its synthetic data,
measurements, statistics, store building and report."""
