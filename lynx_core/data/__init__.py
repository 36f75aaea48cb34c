"""Data: the synthetic world and the batches built from it."""
