"""``lightmem bench updates``: facts that change, in a long chat."""
