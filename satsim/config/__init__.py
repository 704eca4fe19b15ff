"""Load -> validate -> build: YAML files or preset names to typed, frozen config objects."""

from satsim.config.dataflow import DataflowPolicy
from satsim.config.hardware import HardwareConfig
from satsim.config.loader import (
    load_dataflow,
    load_hardware,
    parse_overrides,
    split_overrides,
)

# Config fields the schema accepts but no model reads yet: reports list them, and a --set of
# one warns, so that a knob without effect is never mistaken for a result.
NO_EFFECT_YET = {
    "sore": "the SORE (mask generation) is not timed yet",
    "vector": "the vector / weight-update unit is not timed yet",
    "numerics": "number formats matter to the functional model, which does not exist yet",
    "dataflow.pregenerate": "SORE pre-generation needs the SORE model (not yet)",
    "dataflow.offline_schedule": "cross-op scheduling is not modelled yet (ops run in order)",
}

__all__ = ["NO_EFFECT_YET", "DataflowPolicy", "HardwareConfig", "load_dataflow",
           "load_hardware", "parse_overrides", "split_overrides"]
