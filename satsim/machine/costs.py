"""The units' timing parameters and busy-cycle closed forms.

The closed forms are what the SimPy engine uses; the cycle-stepped machine reference
(:mod:`satsim.timing.machine_reference`) moves bytes, groups and elements one clock at a time
and must agree with them exactly:

* the DRAM's instances are its DMA queues: its channels are divided equally among them, so
  each of Q queues owns C = channels / Q of them (the channels must be a multiple of the
  queues; one queue owns them all). A queue runs one transfer at a time over its C channels,
  byte ``i`` on its channel ``i mod C``; each channel moves at most ``bytes_per_cycle`` a
  cycle, so B bytes take ``ceil(ceil(B / C) / bytes_per_cycle)`` cycles of data (the access
  latency, the same for every queue, comes first and overlaps the previous transfer on the
  queue, see :mod:`satsim.machine.program`);
* every instance of the SORE, the vector unit or the STCE has the unit's parameters (its
  lanes, its array);
* a SORE job of G groups of M deals the groups round-robin to L lanes, a lane taking one
  weight per cycle (each compared against the kept ones): ``ceil(G / L) * M``;
* a vector job of E elements deals them round-robin to L lanes, each element taking c cycles:
  ``ceil(E / L) * c``;
* STCE work is timed by the fold closed forms (:mod:`satsim.machine.stce`) when it is built;
* a buffer bank's port moves at most ``bytes_per_cycle`` a cycle: reads and writes together
  on a single-ported bank, each on its own port on a dual-ported one. A task's bank traffic
  flows while its unit works (operands stream through FIFOs), so the task takes the longer
  of its unit's cycles and its ports' ``ceil(bytes / bytes_per_cycle)``. For a transfer, the
  port passes on the bytes the channels deliver (or feeds them), in the same cycle at best;
  its arrivals are concave in time, which makes the longer of the two exact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property

from satsim.config.hardware import HardwareConfig
from satsim.errors import SatsimError
from satsim.machine.program import Access, Compute, MaskJob, Transfer, Unit, VectorJob, Work


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Port:
    """A bank's port(s): ``bytes_per_cycle`` wide; ``dual``: one for reads, one for writes."""

    bytes_per_cycle: int
    dual: bool = False

    def cycles(self, access: Access) -> int:
        """Cycles to move ``access``'s bytes."""
        if self.dual:
            return _ceil(max(access.read, access.write), self.bytes_per_cycle)
        return _ceil(access.read + access.write, self.bytes_per_cycle)


@dataclass(frozen=True)
class Machine:
    """What the engines need to know of the hardware beyond a Program's work.

    ``instances`` counts the identical instances of the units it names (a unit not named
    has one); the DRAM's are its DMA queues, which divide ``dram_channels`` equally.
    """

    dram_channels: int
    dram_bytes_per_cycle: int  # per channel
    dram_latency_cycles: int
    sore_lanes: int  # per SORE instance
    vector_lanes: int  # per vector-unit instance
    ports: tuple[tuple[str, Port], ...] = ()  # per Program buffer, the port of each bank
    instances: tuple[tuple[Unit, int], ...] = ()  # per unit named, how many it has

    def __post_init__(self) -> None:
        if min(self.dram_channels, self.dram_bytes_per_cycle, self.sore_lanes,
               self.vector_lanes, *(p.bytes_per_cycle for _, p in self.ports)) < 1 or (
                self.dram_latency_cycles < 0):
            raise ValueError(f"a machine needs at least one channel, byte and lane: {self}")
        named = [unit for unit, _ in self.instances]
        if (len(set(named)) < len(named) or not set(named) <= set(Unit)
                or min((n for _, n in self.instances), default=1) < 1):
            raise ValueError(f"a machine has at least one instance of each of its units, each "
                             f"named once: {self.instances}")
        if self.dram_channels % self.count[Unit.DRAM]:
            raise ValueError(f"{self.dram_channels} DRAM channels cannot be divided equally "
                             f"among {self.count[Unit.DRAM]} DMA queues")

    @cached_property
    def port(self) -> dict[str, Port]:
        return dict(self.ports)

    @cached_property
    def count(self) -> dict[Unit, int]:
        """Per unit, its instances."""
        return dict.fromkeys(Unit, 1) | dict(self.instances)

    @cached_property
    def queue_channels(self) -> int:
        """The DRAM channels each DMA queue owns."""
        return self.dram_channels // self.count[Unit.DRAM]

    def check(self, unit: Unit, instance: int) -> None:
        """Raise ValueError unless the machine has instance ``instance`` (from 0) of
        ``unit``: the timing models' one check of the instances a Program uses."""
        if not 0 <= instance < self.count[unit]:
            raise ValueError(f"a task runs on {unit} instance {instance}, but the machine has "
                             f"{self.count[unit]} (numbered from 0)")

    @classmethod
    def from_hardware(cls, hw: HardwareConfig) -> Machine:
        """The timing parameters of ``hw`` at its clock. A channel moves the whole bytes of
        its achievable bandwidth per cycle (rounded down); the latency is rounded up. Work
        the hardware does not time (ideal memory, routes set ``untimed``) gets no tasks; its
        units' parameters here are placeholders. The units have the hardware's instances;
        the DRAM its DMA queues (``memory.dram.dma``)."""
        sore = hw.maskgen.lanes if hw.maskgen is not None else 1
        vector = hw.vector.lanes if hw.vector is not None else 1
        units = {Unit.STCE: hw.engine, Unit.SORE: hw.maskgen, Unit.VECTOR: hw.vector}
        instances = tuple((unit, u.count) for unit, u in units.items() if u is not None)
        instances += ((Unit.DRAM, hw.dma_queues),)
        if hw.memory == "ideal":
            return cls(1, 1, 0, sore, vector, instances=instances)
        dram = hw.memory.dram
        per_cycle = int(dram.gbps_per_channel * dram.efficiency * 1000 // hw.clock_mhz)
        if per_cycle < 1:
            raise SatsimError(f"a DRAM channel moves {dram.gbps_per_channel} GB/s x "
                              f"{dram.efficiency}, less than one byte per {hw.clock_mhz} MHz "
                              "cycle", source=f"hardware {hw.name!r}",
                              field="memory.dram.gbps_per_channel")
        latency = math.ceil(dram.latency_ns * hw.clock_mhz / 1000)
        ports = tuple((label, Port(b.bytes_per_cycle, b.ports == 2))
                      for labels, b in hw.shares().values() for label in labels)
        return cls(dram.channels, per_cycle, latency, sore, vector, ports, instances)


def busy_cycles(work: Work, machine: Machine) -> int:
    """Cycles ``work`` keeps its instance busy: its own, or its banks' ports' if longer."""
    return max(own_cycles(work, machine), port_cycles(work, machine))


def port_cycles(work: Work, machine: Machine) -> int:
    """Cycles the banks ``work`` reads and writes need to move its bytes (0: none)."""
    port = machine.port
    if isinstance(work, Transfer):  # one direction: the same on one port or two
        bank = port.get(work.buffer)
        return 0 if bank is None else _ceil(work.bytes, bank.bytes_per_cycle)
    longest = 0
    for access in work.access:  # a loop, not max(): this runs once per task
        bank = port.get(access.buffer)
        if bank is not None:
            longest = max(longest, bank.cycles(access))
    return longest


def own_cycles(work: Work, machine: Machine) -> int:
    """Cycles ``work`` keeps its instance busy with unlimited buffer ports."""
    if isinstance(work, Compute):
        return work.cycles
    if isinstance(work, Transfer):
        share = _ceil(work.bytes, machine.queue_channels)
        return _ceil(share, machine.dram_bytes_per_cycle)
    if isinstance(work, MaskJob):
        return _ceil(work.groups, machine.sore_lanes) * work.m
    if isinstance(work, VectorJob):
        return _ceil(work.elements, machine.vector_lanes) * work.cycles_per_element
    raise TypeError(f"unknown work {work!r}")


def latency(work: Work, machine: Machine) -> int:
    """Cycles between a task being ready and its instance starting on it."""
    return machine.dram_latency_cycles if isinstance(work, Transfer) else 0
