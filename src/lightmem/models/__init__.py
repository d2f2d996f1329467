"""Model code shared by several backends: a numpy BERT-family encoder (``bert``)."""
