"""The scale-out load test of ``lightmem bench perf --scaleout``: several stateless
``lightmem serve --no-worker`` processes and several ``lightmem worker`` processes over one
PostgreSQL, driven by client threads (:mod:`.run`), checked by :mod:`.audit`."""
