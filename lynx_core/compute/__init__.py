"""Where a stage computes: its data-parallel ranks and collectives (`ranks`), its device and
precision (`runtime`). Below both training and evaluation, which use it and not each other."""
