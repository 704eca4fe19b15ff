"""satsim: a cycle-level simulator of N:M sparse DNN training accelerators."""

from satsim.errors import SatsimError
from satsim.types import NMPattern, Phase, Stationarity

__version__ = "0.1.0"

__all__ = ["NMPattern", "Phase", "SatsimError", "Stationarity", "__version__"]
