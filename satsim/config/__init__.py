"""Load -> validate -> build: YAML files or preset names to typed, frozen config objects."""

from satsim.config.dataflow import DataflowPolicy
from satsim.config.hardware import HardwareConfig
from satsim.config.loader import load_dataflow, load_hardware, parse_overrides

__all__ = ["DataflowPolicy", "HardwareConfig", "load_dataflow", "load_hardware", "parse_overrides"]
