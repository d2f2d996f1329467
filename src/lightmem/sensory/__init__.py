"""Sensory memory: pre-compression of each turn and topic segmentation of the stream."""
