"""A sweep as stage runs: each variant a chain of keyed stage runs shared where equal
(`plan`), their outputs in the content-addressed store under locks, and their GPU-hours."""
