"""The units' timing parameters and busy-cycle closed forms.

The closed forms are what the SimPy engine uses; the cycle-stepped machine reference
(:mod:`satsim.timing.machine_reference`) moves bytes, groups and elements one clock at a time
and must agree with them exactly:

* the DMA runs one transfer at a time over all C channels, byte ``i`` on channel ``i mod C``;
  each channel moves at most ``bytes_per_cycle`` a cycle, so B bytes take
  ``ceil(ceil(B / C) / bytes_per_cycle)`` cycles of data (the access latency comes first and
  overlaps the previous transfer, see :mod:`satsim.schedule.program`);
* a SORE job of G groups of M deals the groups round-robin to L lanes, a lane taking one
  weight per cycle (each compared against the kept ones): ``ceil(G / L) * M``;
* a vector job of E elements deals them round-robin to L lanes, each element taking c cycles:
  ``ceil(E / L) * c``;
* STCE work is timed by the fold closed forms (:mod:`satsim.timing.stce`) when it is built.
"""

from __future__ import annotations

from dataclasses import dataclass

from satsim.schedule.program import Compute, MaskJob, Transfer, VectorJob, Work


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Machine:
    """What the engines need to know of the hardware beyond a Program's work."""

    dram_channels: int
    dram_bytes_per_cycle: int  # per channel
    dram_latency_cycles: int
    sore_lanes: int
    vector_lanes: int

    def __post_init__(self) -> None:
        if min(self.dram_channels, self.dram_bytes_per_cycle, self.sore_lanes,
               self.vector_lanes) < 1 or self.dram_latency_cycles < 0:
            raise ValueError(f"a machine needs at least one channel, byte and lane: {self}")


def busy_cycles(work: Work, machine: Machine) -> int:
    """Cycles ``work`` keeps its unit busy."""
    if isinstance(work, Compute):
        return work.cycles
    if isinstance(work, Transfer):
        share = _ceil(work.bytes, machine.dram_channels)
        return _ceil(share, machine.dram_bytes_per_cycle)
    if isinstance(work, MaskJob):
        return _ceil(work.groups, machine.sore_lanes) * work.m
    if isinstance(work, VectorJob):
        return _ceil(work.elements, machine.vector_lanes) * work.cycles_per_element
    raise TypeError(f"unknown work {work!r}")


def latency(work: Work, machine: Machine) -> int:
    """Cycles between a task being ready and its unit starting on it."""
    return machine.dram_latency_cycles if isinstance(work, Transfer) else 0
