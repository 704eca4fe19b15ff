"""When a Program's tasks ran, and what its buffers held: the engines' common output.

Plain data and arithmetic on it (no SimPy): the production path reads timelines without
importing an engine.
"""

from __future__ import annotations

from dataclasses import dataclass

from satsim.machine.program import Program


class BufferOverflow(RuntimeError):
    """A Program held more bytes of a buffer than it has."""


@dataclass(frozen=True)
class Timeline:
    """When every task ran (``start[i]``, ``end[i]`` for task ``i``), and buffer peaks."""

    start: tuple[int, ...]
    end: tuple[int, ...]
    peak_bytes: dict[str, int]  # per buffer: most bytes held at once
    events: int = 0  # SimPy events processed (engine cost)

    @property
    def cycles(self) -> int:
        return max(self.end, default=0)


def occupancy(program: Program, start, end) -> dict[str, list[tuple[int, int]]]:
    """Per buffer, ``(cycle, bytes held from then on)`` at every change, in time order.

    At one cycle, space freed (a holding's ``until`` task ended) comes back before space is
    taken (a holder started).
    """
    return curves(program.buffers, ((hold.buffer, hold.bytes, start[task.id], end[hold.until])
                                    for task in program.tasks for hold in task.holds))


def curves(buffers, holdings) -> dict[str, list[tuple[int, int]]]:
    """:func:`occupancy` from ``(buffer, bytes, taken at, freed at)`` holdings."""
    changes: dict[str, list[tuple[int, int, int]]] = {name: [] for name in buffers}
    for buffer, size, taken, freed in holdings:
        changes[buffer].append((taken, 1, size))
        changes[buffer].append((freed, 0, -size))
    steps = {}
    for name, events in changes.items():
        held, curve = 0, []
        for cycle, _, delta in sorted(events):
            held += delta
            if curve and curve[-1][0] == cycle:
                curve[-1] = (cycle, held)
            else:
                curve.append((cycle, held))
        steps[name] = curve
    return steps


def peaks(program: Program, start, end) -> dict[str, int]:
    """Most bytes each buffer holds at once; raises :class:`BufferOverflow` at the first
    cycle a buffer holds more than its capacity."""
    curves = occupancy(program, start, end)
    over = [(cycle, list(curves).index(name), name, held)
            for name, curve in curves.items() for cycle, held in curve
            if held > program.buffers[name]]
    if over:
        cycle, _, name, held = min(over)
        raise BufferOverflow(f"buffer {name} holds {held} bytes in cycle {cycle}, more than "
                             f"its {program.buffers[name]}")
    # Frees sort first within a cycle: each point is read after the cycle's takes.
    return {name: max((held for _, held in curve), default=0) for name, curve in curves.items()}
