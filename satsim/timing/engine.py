"""The SimPy discrete-event engine: runs a trace's ops on the units of the hardware.

Time is an integer cycle. For now the only timed unit is the STCE (memory is ideal); ops run
in trace order, each holding the array for its fold runs. Non-GEMM records (vector work,
weight updates, mask generation) are carried through but not timed until their units exist.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import simpy

from satsim.config import DataflowPolicy, HardwareConfig
from satsim.mapping import GemmMapping, map_gemm
from satsim.timing.stce import STCE
from satsim.trace.schema import GemmOp, Trace


class CountingEnvironment(simpy.Environment):
    """A SimPy environment that counts the events it processes (engine cost, for tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.processed = 0

    def step(self) -> None:
        self.processed += 1
        super().step()


@dataclass(frozen=True)
class OpTiming:
    """When one GEMM op held the array."""

    index: int  # position of the op among the trace's records
    op: GemmOp
    mapping: GemmMapping
    start: int
    end: int


def run_engine(trace: Trace, hw: HardwareConfig, policy: DataflowPolicy,
               env: simpy.Environment | None = None) -> list[OpTiming]:
    """Simulate ``trace`` and return the timing of every GEMM op, in trace order."""
    env = env if env is not None else simpy.Environment()
    stce = STCE(env)
    log: list[OpTiming] = []
    work = [(i, r, map_gemm(r, hw, policy)) for i, r in enumerate(trace.records)
            if isinstance(r, GemmOp)]

    def program() -> Generator:
        for index, op, mapping in work:
            with stce.request() as req:
                yield req
                start = int(env.now)
                yield from stce.execute(tuple(p.cycles for p in mapping.parts))
                log.append(OpTiming(index, op, mapping, start, int(env.now)))

    env.process(program())
    env.run()
    return log
