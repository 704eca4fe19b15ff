"""The one input boundary for configs: YAML (file or preset) + overrides -> typed object."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from satsim.config.dataflow import DataflowPolicy
from satsim.config.hardware import HardwareConfig
from satsim.energy import table as energy_table  # a module: it may be loading (it imports units)
from satsim.errors import SatsimError
from satsim.resources import find, shipped
from satsim.yaml_input import FAST_SAFE_LOADER, Model, shared_yaml, validate

_YAML = (".yaml", ".yml")


def resolve(spec: str | Path, kind: str) -> Path:
    """The file behind a preset name or a YAML path of ``kind`` (``configs`` or ``dataflows``),
    by the rule of :func:`satsim.resources.find`."""
    return find(spec, shipped(kind, _YAML), "preset")


def parse_overrides(items: list[str] | tuple[str, ...],
                    option: str = "--set") -> list[tuple[str, Any]]:
    """``["array.rows=16", ...]`` -> ``[("array.rows", 16), ...]``; values are YAML scalars.
    Errors name ``option``, the command-line option the items came from."""
    parsed = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            form = "dotted.path=value" if option == "--set" else "KEY=VALUE"
            raise SatsimError(f"expected {form}, got {item!r}", source=option)
        try:
            # libyaml when present: same YAML, a sweep worker parses thousands of these.
            value = yaml.load(raw, Loader=FAST_SAFE_LOADER) if raw.strip() else ""  # noqa: S506
        except yaml.YAMLError:
            value = raw
        except (ValueError, AttributeError, RecursionError) as exc:
            reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
            raise SatsimError(f"cannot read the value of {key.strip()}: {reason}",
                              source=option) from None
        parsed.append((key.strip(), value))
    return parsed


def split_overrides(items: Sequence[str]) -> tuple[list, list]:
    """``--set`` items -> (hardware, dataflow) ``(dotted.path, value)`` lists."""
    return split_pairs(parse_overrides(list(items)))


def split_pairs(pairs) -> tuple[list, list]:
    """``(dotted.path, value)`` pairs -> (hardware, dataflow) lists (``dataflow.`` stripped)."""
    hardware, dataflow = [], []
    for key, value in pairs:
        if key.startswith("dataflow."):
            dataflow.append((key.removeprefix("dataflow."), value))
        else:
            hardware.append((key.removeprefix("hw."), value))
    return hardware, dataflow


def set_path(data: dict[str, Any], key: str, value: Any) -> None:
    """Set the ``dotted.path`` ``key`` of ``data`` to a copy of ``value``, in place;
    intermediate mappings are created."""
    node = data
    *parents, leaf = key.split(".")
    for i, part in enumerate(parents):
        child = node.get(part)
        if child is None or isinstance(child, str):
            child = node[part] = {}
        if not isinstance(child, dict):
            path = ".".join(parents[: i + 1])
            raise SatsimError(f"{path} is not a mapping, cannot set {key}", source="--set")
        node = child
    try:  # the caller's value stays theirs when a later override sets inside it
        node[leaf] = copy.deepcopy(value)
    except RecursionError:
        raise SatsimError(f"the value of {key} is nested too deeply", source="--set") from None


def _load(model: type[Model], spec: str | Path, kind: str, overrides, prefix: str = "") -> Model:
    path = resolve(spec, kind)
    shared = shared_yaml(path)
    data = copy.deepcopy(shared)  # the one deep copy: the cached parse stays as read
    written = {}  # the path an override sets -> the key as the user wrote it
    for key, value in overrides:
        if model is HardwareConfig:
            if key == "dataflow":  # a default of the hardware's, not a knob of the run
                raise SatsimError("choose the dataflow with --dataflow (in a sweep spec: "
                                  "dataflow:), not on the hardware", source="--set dataflow")
            full = unit_path(key, data)  # units added by earlier overrides count
        else:
            full = key
        written[full] = key
        set_path(data, full, value)
    return validate(model, data, path, tuple(written), prefix, written, original=shared)


def unit_path(key: str, data: dict[str, Any]) -> str:
    """``NAME.FIELD`` for a unit ``NAME`` of the machine ``data`` is ``units.NAME.FIELD``
    (``--set array.rows=16``); a unit's name is never a top-level key of the hardware."""
    head = key.partition(".")[0]
    units = data.get("units")
    if head not in HardwareConfig.model_fields and isinstance(units, dict) and head in units:
        return f"units.{key}"
    return key


def load_hardware(spec: str | Path = "sat", overrides=()) -> HardwareConfig:
    """Hardware preset name or YAML file, plus ``(dotted.path, value)`` overrides.

    Its energy table is loaded and validated too; a table given as a relative path is found
    beside the hardware file, then from the working folder (from the working folder only when
    an override names it), and kept as an absolute path."""
    hw = _load(HardwareConfig, spec, "configs", overrides)
    if hw.energy is None:
        return hw
    base = resolve(spec, "configs")
    named_here = any(key in ("energy", "energy.table") for key, _ in overrides)
    try:
        table = energy_table.resolve_table(hw.energy.table, None if named_here else base.parent)
    except SatsimError as exc:
        if named_here:
            raise SatsimError(str(exc), source="--set energy") from None
        raise SatsimError(str(exc), source=base, field="energy.table") from None
    if table != energy_table.shipped_tables().get(hw.energy.table):  # a file, not a shipped name
        table = table.resolve()
        hw = hw.model_copy(update={"energy": hw.energy.model_copy(update={"table": str(table)})})
    prices = energy_table.load_energy_table(table)
    for name, unit in hw.units.items():
        if prices.prices(unit.kind) is None:
            raise SatsimError(f"prices no {unit.kind} unit, and unit {name} is one: give the "
                              f"table a {unit.kind} section (each action priced, or null with "
                              "a source saying why)", source=table, field=unit.kind)
    return hw


def load_machine(hardware: str | Path = "sat", dataflow: str | Path | None = None,
                 overrides: Sequence[str] = ()) -> tuple[HardwareConfig, DataflowPolicy]:
    """The hardware and the dataflow a run simulates, with ``--set`` items applied: the
    dataflow given, else the one the hardware names (``dataflow:`` of its preset)."""
    hw_overrides, df_overrides = split_overrides(overrides)
    hw = load_hardware(hardware, hw_overrides)
    return hw, load_dataflow(hw.dataflow if dataflow is None else dataflow, df_overrides)


def load_dataflow(spec: str | Path = "sat", overrides=()) -> DataflowPolicy:
    """Dataflow preset name or YAML file, plus ``(dotted.path, value)`` overrides."""
    return _load(DataflowPolicy, spec, "dataflows", overrides, prefix="dataflow.")


def input_files(hardware: str | Path, dataflow: str | Path | None,
                overrides: Sequence[str] = ()) -> list[tuple[str, Path]]:
    """The files a machine is read from, as ``(option, path)``: ``--hw``, ``--dataflow`` (the
    hardware's when None) and the energy table. For the check that an output overwrites none
    of them."""
    hw = load_hardware(hardware, split_overrides(overrides)[0])
    files = [("--hw", resolve(hardware, "configs")),
             ("--dataflow", resolve(hw.dataflow if dataflow is None else dataflow, "dataflows"))]
    if hw.energy is not None:
        files.append(("the energy table", energy_table.resolve_table(hw.energy.table)))
    return files
