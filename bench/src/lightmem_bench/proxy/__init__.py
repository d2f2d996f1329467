"""``lightmem bench proxy``: a LoCoMo conversation replayed through ``lightmem proxy`` by an
app that resends its whole history with every request, against a fake upstream that answers
at once. It measures the tokens that go upstream against the full history, the proxy's
latency over a direct call, and how often the injected block's stable part is byte for byte
the previous request's (what a model server's prefix cache can reuse)."""
