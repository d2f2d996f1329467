"""Short-term memory: topic segments wait here until a token threshold, then ONE LLM call
extracts memory entries for the whole batch."""
