"""A sweep file read and validated into a `SweepSpec`: YAML with includes and scales, the
schema, grid expansion into variants, the semantic checks and their problems (file, line,
field, fix), tuning's choices, and the paper's published figures its rows name."""
