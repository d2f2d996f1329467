"""``lightmem bench segmentation``: boundary precision, recall and F1 of the topic segmenters."""
