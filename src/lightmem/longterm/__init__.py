"""Long-term memory: entries are stored at once; sleep-time consolidation runs offline."""
