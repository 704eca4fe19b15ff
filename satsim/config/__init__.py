"""Load -> validate -> build: YAML files or preset names to typed, frozen config objects."""

from satsim.config.dataflow import DataflowPolicy
from satsim.config.hardware import UNTIMED, HardwareConfig
from satsim.config.loader import (
    load_dataflow,
    load_hardware,
    load_machine,
    parse_overrides,
    split_overrides,
)

# Dataflow switches accepted but not read by any model yet: reports list them, and a --set
# of one warns, so that a knob without effect is never mistaken for a result.
NO_EFFECT_YET: dict[str, str] = {}


__all__ = ["NO_EFFECT_YET", "UNTIMED", "DataflowPolicy", "HardwareConfig", "load_dataflow",
           "load_hardware", "load_machine", "parse_overrides", "split_overrides"]
