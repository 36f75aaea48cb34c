"""The public API for reading a sweep (`load_sweep`, `SweepSpec`, `Variant`), kept at this
path for users' scripts; the code lives in `ablations.sweep`."""

from ablations.sweep.spec import SweepSpec, Variant, load_sweep

__all__ = ["SweepSpec", "Variant", "load_sweep"]
