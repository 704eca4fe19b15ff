"""The plain schedule: a trace's records, in trace order, as a Program.

No SAT optimization: every unit takes its work in trace order, masks are generated on demand
(where the trace computes them, right before the layer's FF GEMM), and units overlap only
where the tensor graph allows. A record waits for

* the last writer of every tensor it reads (read after write),
* the last writer and every reader since of every tensor it writes (write after write, write
  after read: an update must not overwrite a weight a GEMM still reads);

a v1 trace has no graph: each record then waits for the previous one (a sequential chain).
A record whose unit the hardware does not time (``sore: null``, ``vector: null``) gets no
task; its dependents wait for what it waited for.

This increment schedules on an ideal memory (operands on chip): GEMMs as one task per part
of their mapping, timed by the fold closed forms; DRAM transfers and buffer tiles are the
next step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.errors import SatsimError
from satsim.mapping import GemmMapping, map_gemm
from satsim.schedule.program import Compute, MaskJob, Program, Task, VectorJob, Work
from satsim.trace.schema import GemmOp, MaskGenOp, Trace, UpdateOp, VectorOp
from satsim.types import Phase


@dataclass(frozen=True)
class Plan:
    """A Program and what its tasks stand for."""

    program: Program
    mappings: dict[int, GemmMapping]  # record index -> the GEMM's mapping
    untimed: tuple[int, ...]  # records no unit of this hardware times


def plan(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy) -> Plan:
    """Schedule ``trace`` on ``hw`` under ``policy`` (plain order, ideal memory)."""
    if hw.memory != "ideal":
        raise SatsimError("the plain schedule does not place tensors in DRAM and buffers yet",
                          source=f"hardware {hw.name!r}", field="memory")
    tasks: list[Task] = []
    mappings: dict[int, GemmMapping] = {}
    untimed: list[int] = []
    done: dict[int, frozenset[int]] = {}  # record -> tasks whose end completes it
    graph = _Hazards(trace) if trace.has_graph else None
    previous: frozenset[int] = frozenset()
    for index, record in enumerate(trace.records):
        waits = graph.deps(record, done) if graph is not None else previous
        works = _works(index, record, hw, policy, mappings)
        if not works:
            untimed.append(index)
            done[index] = waits
        else:
            first = len(tasks)
            for work in works:  # a GEMM's parts run one after the other on the STCE
                deps = tuple(sorted(waits)) if len(tasks) == first else (len(tasks) - 1,)
                tasks.append(Task(len(tasks), work, deps, op=index, phase=_phase(record),
                                  label=record.layer))
            done[index] = frozenset({len(tasks) - 1})
        if graph is not None:
            graph.note(index, record)
        previous = done[index]
    return Plan(Program(tuple(tasks)), mappings, tuple(untimed))


def _phase(record) -> Phase:
    if isinstance(record, GemmOp | VectorOp):
        return record.phase
    return Phase.WU if isinstance(record, UpdateOp) else Phase.MG


def _works(index: int, record, hw: HardwareConfig, policy: DataflowPolicy,
           mappings: dict[int, GemmMapping]) -> list[Work]:
    if isinstance(record, GemmOp):
        mapping = mappings[index] = map_gemm(record, hw, policy)
        return [Compute(part.cycles) for part in mapping.parts]
    if isinstance(record, MaskGenOp):
        if hw.sore is None:
            return []
        return [MaskJob(groups=math.ceil(record.elements / record.sparsity.m),
                        m=record.sparsity.m)]
    if hw.vector is None:
        return []
    if isinstance(record, VectorOp):
        cost = hw.vector.cycles_per_element.get(record.op)
        if cost is None:
            raise SatsimError(f"record {index} ({record.layer}, {record.phase}) is vector op "
                              f"{record.op!r}, which has no cost in the table",
                              source=f"hardware {hw.name!r}",
                              field=f"vector.cycles_per_element.{record.op}")
        return [VectorJob(record.elements, cost)]
    if isinstance(record, UpdateOp):
        table = hw.vector.update_cycles_per_parameter
        # The WUVE updates the master weight, then writes the copy GEMMs read when the
        # operand format differs from the master's.
        steps = [record.optimizer] + (
            ["recast"] if hw.numerics.operand != hw.numerics.master else [])
        missing = [s for s in steps if s not in table]
        if missing:
            raise SatsimError(f"record {index} updates {record.param} with {missing[0]!r}, "
                              "which has no cost in the table", source=f"hardware {hw.name!r}",
                              field=f"vector.update_cycles_per_parameter.{missing[0]}")
        return [VectorJob(record.elements, sum(table[s] for s in steps))]
    raise TypeError(f"unknown record {record!r}")


class _Hazards:
    """Who last wrote each tensor, and who read it since: a record's dependencies. A read
    of a part of a tensor (a view entry) is a read of the tensor."""

    def __init__(self, trace: Trace) -> None:
        self.base = {t.id: t.view_of for t in trace.tensors if t.view_of is not None}
        self.writer: dict[int, int] = {}
        self.readers: dict[int, list[int]] = {}

    def _reads(self, record) -> list[int]:
        return [self.base.get(t, t) for t in record.reads]

    def deps(self, record, done: dict[int, frozenset[int]]) -> frozenset[int]:
        records = {self.writer[t] for t in self._reads(record) if t in self.writer}
        for t in record.writes:
            if t in self.writer:
                records.add(self.writer[t])
            records.update(self.readers.get(t, ()))
        return frozenset().union(*(done[r] for r in records))

    def note(self, index: int, record) -> None:
        for t in self._reads(record):
            self.readers.setdefault(t, []).append(index)
        for t in record.writes:  # a new version: its readers are still to come
            self.writer[t] = index
            self.readers[t] = []
