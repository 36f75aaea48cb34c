"""The public API for reading a sweep (`load_sweep`, `SweepSpec`, `Variant`), kept at this
path for users' scripts; the code lives in `ablations.sweep`."""

from ablations.sweep.spec import SweepSpec, load_sweep
from ablations.sweep.variant import Variant

__all__ = ["SweepSpec", "Variant", "load_sweep"]
