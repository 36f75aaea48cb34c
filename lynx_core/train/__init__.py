"""Training: bases preparation and the shared optimisation loop of stages 1 and 2."""
