"""Benchmark harness: dataset-driven retrieval and QA evaluation, and its metrics."""
