"""A simulation's result: one tidy row per timed record plus totals; JSON and tables are views.

The rows are plain records; pandas frames are built on first use (:attr:`RunResult.ops`), so
that ``satsim run`` does not pay for importing pandas to print a table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from satsim.energy.breakdown import EnergyBreakdown

SCHEMA = "satsim.result/2"
OP_COLUMNS = ["index", "layer", "phase", "unit", "op", "M", "K", "N", "batch", "elements",
              "sparsity", "stationarity", "lowering", "start", "end", "cycles", "busy_cycles",
              "macs", "dense_macs", "stall_dram", "stall_mask", "stall_dep", "stall_unit",
              "stall_buffer", "dram_read_bytes", "dram_write_bytes"]
PHASES = ("FF", "BP", "WG", "MASK", "VEC", "WU")  # the order tables list them in
UNITS = ("stce", "sore", "vector", "dram")
STALLS = ("stall_dram", "stall_mask", "stall_dep", "stall_unit", "stall_buffer")
AFTER_LAST_OP = "after_last_op"  # a unit's idle cycles after its last op's work
# Why a compute unit sat idle (the keys of RunResult.idle_by_cause), with the label every view
# gives each: its ops' stall_<cause> cycles (the unit idle before or during an op's work, each
# such cycle counted once, for one op), then the cycles after its last op. stall_unit is no
# cause: it is an op's wait for its busy unit, and ops wait at once.
IDLE_CAUSES = {"dram": "stall DRAM", "dep": "stall dep", "mask": "stall mask",
               "buffer": "stall buffer", AFTER_LAST_OP: "after last op"}
IDLE_STALLS = tuple(cause for cause in IDLE_CAUSES if cause != AFTER_LAST_OP)
_SUMMED = ("busy_cycles", "macs", "dense_macs", *STALLS, "dram_read_bytes", "dram_write_bytes")
_NULLABLE_INTS = ("M", "K", "N", "batch", "elements")


@dataclass(frozen=True)
class PhaseTotal:
    """One phase's share of a run: its unit's work, what it waited for, what it moved."""

    phase: str
    unit: str
    ops: int
    busy_cycles: int
    macs: int
    dense_macs: int
    stall_dram: int
    stall_mask: int
    stall_dep: int
    stall_unit: int
    stall_buffer: int
    dram_read_bytes: int
    dram_write_bytes: int


@dataclass(frozen=True)
class RunResult:
    """What one run of one workload on one hardware + dataflow produced.

    ``cycles`` is the iteration's length with everything the hardware times running
    concurrently; ``busy`` the cycles each unit worked (DRAM: cycles moving data), summed
    over its instances.
    """

    hardware: str
    dataflow: str
    workload: str
    sparsity: str  # "dense" or "N:M"
    method: str
    clock_mhz: float
    pes: int
    memory: str  # "ideal" or "dram"
    cycles: int
    rows: tuple[dict, ...]  # OP_COLUMNS, one per timed record, in the order they completed
    busy: dict[str, int]  # unit -> busy cycles, for the units the hardware times
    instances: dict[str, int] = field(default_factory=dict)  # unit -> instances (absent: 1)
    buffers: dict[str, tuple[int, int]] = field(default_factory=dict)  # -> (capacity, peak)
    actions: dict[int, dict[str, dict[str, int]]] = field(default_factory=dict)  # per record
    tasks: int = 0  # tasks of the schedule
    timed: int = 0  # of which timed one by one (the rest: repeats of identical steps)
    order: str = "trace order"  # the records' issue order the offline scheduler kept
    orders_tried: dict[str, int] = field(default_factory=dict)  # each candidate's cycles
    energy: EnergyBreakdown | None = None  # None: the hardware names no energy table
    # The schedule run (satsim.schedule.choices.Schedule): its source is the file it was
    # read from, if any.
    schedule: object = field(default=None, compare=False, repr=False)
    # Every task's times (satsim.timing.records.TaskRecords), when asked for: a timeline's.
    records: object = field(default=None, compare=False, repr=False)

    @property
    def energy_j(self) -> float | None:
        """The priced energy of the iteration in J (None: energy not modelled)."""
        return None if self.energy is None else self.energy.energy_j

    @cached_property
    def ops(self) -> pd.DataFrame:
        """The rows as a tidy frame (OP_COLUMNS; sizes a record does not have are <NA>)."""
        import pandas as pd

        frame = pd.DataFrame(list(self.rows), columns=OP_COLUMNS)
        return frame.astype(dict.fromkeys(_NULLABLE_INTS, "Int64"))

    @property
    def seconds(self) -> float:
        return self.cycles / (self.clock_mhz * 1e6)

    @property
    def macs(self) -> int:
        return sum(r["macs"] for r in self.rows)

    @property
    def dense_macs(self) -> int:
        return sum(r["dense_macs"] for r in self.rows)

    @property
    def utilization(self) -> float:
        """Executed (non-pruned) MACs over the arrays' MAC slots of the run, in [0, 1]."""
        return self.macs / (self.cycles * self.pes) if self.cycles else 0.0

    @property
    def array_pes(self) -> int:
        """The PEs of one instance of the array (``pes`` counts all of them)."""
        return self.pes // self.instances.get("stce", 1)

    def total(self, column: str) -> int:
        """A column summed over the records (stalls, DRAM bytes, busy cycles)."""
        return sum(r[column] for r in self.rows)

    def unit_utilization(self, unit: str) -> float:
        """The share of the iteration ``unit`` was busy, in [0, 1]: its busy cycles over
        ``cycles`` times its instances."""
        return (self.busy.get(unit, 0) / (self.cycles * self.instances.get(unit, 1))
                if self.cycles else 0.0)

    def idle_cycles(self, unit: str) -> int:
        """The cycles of the iteration ``unit``'s instances did not work, summed:
        ``cycles x instances - busy[unit]`` (an instance works on one task at a time, so this
        is the length of its idle intervals)."""
        return self.cycles * self.instances.get(unit, 1) - self.busy[unit]

    def idle_by_cause(self, unit: str) -> dict[str, int]:
        """A compute unit's idle cycles by cause (:data:`IDLE_CAUSES`): its ops' stalls
        (``dram``, ``dep``, ``mask``, ``buffer``: the idle cycles before or during each op's
        work) and ``after_last_op`` (the rest: from the end of its last work to the
        iteration's end). They sum to :meth:`idle_cycles`."""
        mine = [r for r in self.rows if r["unit"] == unit]
        causes = {c: sum(r[f"stall_{c}"] for r in mine) for c in IDLE_STALLS}
        return causes | {AFTER_LAST_OP: self.idle_cycles(unit) - sum(causes.values())}

    def phase_totals(self) -> list[PhaseTotal]:
        """Per phase present, in PHASES order."""
        totals: dict[str, dict] = {}
        for r in self.rows:
            t = totals.setdefault(r["phase"], dict.fromkeys(_SUMMED, 0) | {
                "unit": r["unit"], "ops": 0})
            t["ops"] += 1
            for key in _SUMMED:
                t[key] += r[key]
        return [PhaseTotal(phase, **totals[phase]) for phase in PHASES if phase in totals]

    def by_phase(self) -> pd.DataFrame:
        """Per phase: its unit, ops, busy cycles and time, the array's MAC utilization while
        busy (STCE phases), stalls and DRAM bytes."""
        import pandas as pd

        frame = pd.DataFrame([vars(t) for t in self.phase_totals()],
                             columns=["phase", "unit", "ops", *_SUMMED]).set_index("phase")
        # Time: the busy cycles of one instance (on average: they share the work).
        frame["time_ms"] = frame["busy_cycles"] / (
            frame["unit"].map(lambda u: self.instances.get(u, 1)) * self.clock_mhz * 1e3)
        stce = frame["unit"] == "stce"
        # Busy cycles are summed over the arrays: each such cycle is one array's.
        frame["utilization"] = (frame["macs"] / (frame["busy_cycles"] * self.array_pes)
                                ).where(stce)
        return frame[["unit", "ops", "busy_cycles", "time_ms", "utilization", *STALLS,
                      "dram_read_bytes", "dram_write_bytes"]]

    def by_unit(self) -> pd.DataFrame:
        """Per unit the hardware times: busy cycles, the share of the iteration, idle
        cycles."""
        import pandas as pd

        return pd.DataFrame(
            [{"unit": u, "busy_cycles": self.busy[u], "utilization": self.unit_utilization(u),
              "idle_cycles": self.idle_cycles(u)} for u in UNITS if u in self.busy],
            columns=["unit", "busy_cycles", "utilization", "idle_cycles"]).set_index("unit")

    def action_totals(self) -> dict[str, dict[str, int]]:
        """Action counts of the whole run, per unit (``buffer:<name>`` per buffer)."""
        total: dict[str, dict[str, int]] = {}
        for per_op in self.actions.values():
            for unit, counts in per_op.items():
                into = total.setdefault(unit, {})
                for action, n in counts.items():
                    into[action] = into.get(action, 0) + n
        return total

    def to_json(self) -> dict:
        """The core of the ``satsim.result/2`` document (docs/results.md)."""
        phases = {}
        for t in self.phase_totals():
            phases[t.phase] = {k: v for k, v in vars(t).items() if k != "phase"}
        return {
            "schema": SCHEMA, "hardware": self.hardware, "dataflow": self.dataflow,
            "workload": self.workload, "sparsity": self.sparsity, "method": self.method,
            "clock_mhz": float(self.clock_mhz), "memory": self.memory,
            "cycles": self.cycles, "seconds": self.seconds,
            "macs": self.macs, "dense_macs": self.dense_macs, "utilization": self.utilization,
            "energy_j": self.energy_j,
            "energy": None if self.energy is None else self.energy.to_json(),
            "dram_read_bytes": self.total("dram_read_bytes"),
            "dram_write_bytes": self.total("dram_write_bytes"),
            "stalls": {s.removeprefix("stall_"): self.total(s) for s in STALLS},
            "units": {u: self._unit_json(u) for u in UNITS if u in self.busy},
            "buffers": {name: {"capacity_bytes": cap, "peak_bytes": peak}
                        for name, (cap, peak) in self.buffers.items()},
            "phases": phases,
            "actions": self.action_totals(),
            "schedule": {"tasks": self.tasks, "timed_one_by_one": self.timed,
                         "order": self.order, "orders_tried": self.orders_tried,
                         "file": getattr(self.schedule, "source", "") or None},
            "ops": [dict(r, actions=self.actions.get(r["index"], {}),
                         **self._op_energy(r["index"])) for r in self.rows],
        }

    def _unit_json(self, unit: str) -> dict:
        doc = {"instances": self.instances.get(unit, 1), "busy_cycles": self.busy[unit],
               "utilization": self.unit_utilization(unit), "idle_cycles": self.idle_cycles(unit)}
        if unit != "dram":  # the DMA has no ops of its own to attribute its idle cycles to
            doc["idle_by_cause"] = self.idle_by_cause(unit)
        return doc

    def _op_energy(self, index: int) -> dict:
        """A record's dynamic energy in J, in all and per unit (None: not priced)."""
        if self.energy is None:
            return {"energy_j": None, "energy_by_unit": None}
        return {"energy_j": self.energy.op_energy(index),
                "energy_by_unit": dict(self.energy.by_op.get(index, {}))}
