"""Retrieval: dense, BM25 and hybrid (rank fusion) search over memory entries."""
