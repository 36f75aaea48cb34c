"""The public API for reading a sweep (`load_sweep`, `SweepSpec`, `Variant`, and the
`SweepError` of a bad file with its `Problem`s), kept at this path for users' scripts; the
code lives in `ablations.sweep`."""

from ablations.sweep.errors import Problem, SweepError
from ablations.sweep.spec import SweepSpec, load_sweep
from ablations.sweep.variant import Variant

__all__ = ["Problem", "SweepError", "SweepSpec", "Variant", "load_sweep"]
