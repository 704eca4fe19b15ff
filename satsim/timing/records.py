"""Every task's times from the one-pass clock, skipped periods included.

The clock (:mod:`satsim.timing.clock`) times a period of identical steps once and then
skips ``n`` more: it knows they repeat the period just timed, ``delta`` cycles apart each
(:mod:`satsim.schedule.skip`). :class:`Recording` is that clock keeping a log of what it was
handed: each task it timed, and at each skip the stretch of the log repeated and how often.
:meth:`Recording.records` plays the log back into every task of the Program, in Program
order, with its start and end, and every buffer holding with when it was taken and freed:
what the SimPy engine would give for the built Program (tested equal), at the clock's cost.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from satsim.machine.program import Work
from satsim.timing.clock import UNIT_AT, Clock
from satsim.types import Phase


@dataclass(frozen=True)
class TaskRecords:
    """Every task of a run in Program order (arrays indexed by task id), the works they do,
    the records' names, and every buffer holding."""

    start: np.ndarray
    end: np.ndarray
    op: np.ndarray  # the trace record a task belongs to
    unit: np.ndarray  # its unit's place in :class:`Unit`
    instance: np.ndarray
    work: np.ndarray  # its work: an index into ``works``
    works: list[Work]
    names: dict[int, tuple[Phase | None, str]]  # per record: its phase and layer
    buffers: dict[str, int]  # the Program's buffers and their capacities, in bytes
    hold_buffer: np.ndarray  # per holding: its buffer (an index into ``buffers``) ...
    hold_bytes: np.ndarray  # ... its bytes, when it was taken and when freed
    hold_taken: np.ndarray
    hold_freed: np.ndarray

    @property
    def cycles(self) -> int:
        return int(self.end.max(initial=0))


class Recording(Clock):
    """The one-pass clock, skipping as it does, with a log to play back
    (:meth:`records`): the handles of the tasks it timed, and per skip a tuple ``(begin,
    end, n, delta)``: items ``begin .. end - 1`` of the log happen ``n`` more times, each
    ``delta`` cycles after the one before."""

    def __init__(self, machine) -> None:
        super().__init__(machine)
        self.log: list = []
        self.works: list[Work] = []  # per handle (ghost copies too)
        self.instances: list[int] = []
        self.names: dict[int, tuple[Phase | None, str]] = {}
        self.copies: dict[int, tuple[list, int]] = {}  # dropped holding -> (copy, offset)

    def task(self, work: Work, deps: list, op: int, phase, label: str,
             instance: int = 0) -> int:
        handle = super().task(work, deps, op, phase, label, instance)
        self.works.append(work)
        self.instances.append(instance)
        self.names[op] = (phase, label)
        self.log.append(handle)
        return handle

    def mark(self) -> int:
        return len(self.log)

    def shift(self, handles: list, ops: list[int], n: int, delta: int, units: list,
              period: tuple, marks: tuple[int, int]) -> dict:
        assert marks[1] == len(self.log), "a period repeated must end where the skip is"
        moved = super().shift(handles, ops, n, delta, units, period, marks)
        for handle in moved:  # ghost copies: never played back, but numbered like tasks
            self.works.append(self.works[handle])
            self.instances.append(self.instances[handle])
        self.log.append((*marks, n, delta))
        return moved

    def drop(self, hold: list, copy: list, offset: int) -> None:
        super().drop(hold, copy, offset)
        # By id: a dropped holding stays alive (in ``holds``, or a copy named here before).
        self.copies[id(hold)] = (copy, offset)

    def _freed(self, hold: list) -> int:
        """When ``hold`` is freed: a dropped one ``offset`` before its copy."""
        back = 0
        while hold[2] == -1:
            hold, offset = self.copies[id(hold)]
            back += offset
        return self.end[hold[2]] - back

    def records(self, buffers: dict[str, int]) -> TaskRecords:
        """Every task and holding of the run, played back from the log."""
        handles, offsets = _play(self.log, 0, len(self.log), {})
        start = np.asarray(self.start, dtype=np.int64)
        end = np.asarray(self.end, dtype=np.int64)
        works, index = [], {}  # distinct works, each one's place among them
        for w in self.works:
            if id(w) not in index:
                index[id(w)] = len(works)
                works.append(w)
        work_of = np.fromiter((index[id(w)] for w in self.works), dtype=np.int64,
                              count=len(self.works))
        units = np.fromiter((UNIT_AT[u] for u in self.unit), dtype=np.int8,
                            count=len(self.unit))
        # Holdings, by holder (a task timed, never a ghost copy): each played-back task
        # takes its handle's, moved with it.
        names = list(buffers)
        holds = sorted(self.holds, key=lambda h: h[3])
        holder = np.fromiter((h[3] for h in holds), dtype=np.int64, count=len(holds))
        count = np.bincount(holder, minlength=len(start))[handles]
        first = np.cumsum(count) - count
        owner = np.repeat(np.arange(len(handles)), count)
        at = np.searchsorted(holder, handles)  # each task's first holding in ``holds``
        which = np.repeat(at, count) + np.arange(count.sum()) - np.repeat(first, count)
        moved = offsets[owner]
        return TaskRecords(
            start=start[handles] + offsets, end=end[handles] + offsets,
            op=np.asarray(self.op, dtype=np.int64)[handles], unit=units[handles],
            instance=np.asarray(self.instances, dtype=np.int64)[handles],
            work=work_of[handles], works=works, names=self.names, buffers=buffers,
            hold_buffer=np.fromiter((names.index(h[0]) for h in holds), dtype=np.int64,
                                    count=len(holds))[which],
            hold_bytes=np.fromiter((h[1] for h in holds), dtype=np.int64,
                                   count=len(holds))[which],
            hold_taken=start[handles][owner] + moved,
            hold_freed=np.fromiter(map(self._freed, holds), dtype=np.int64,
                                   count=len(holds))[which] + moved)


def _play(log: list, begin: int, end: int, played: dict) -> tuple[np.ndarray, np.ndarray]:
    """Items ``begin .. end - 1`` of a :class:`Recording`'s log as tasks: each one's handle
    and how many cycles after the handle's times it runs (``played``: stretches already
    played back, as a stretch may repeat inside a longer one)."""
    key = (begin, end)
    if key in played:
        return played[key]
    handles, offsets, run = [], [], []
    for item in log[begin:end]:
        if isinstance(item, int):
            run.append(item)
            continue
        if run:
            handles.append(np.array(run, dtype=np.int64))
            offsets.append(np.zeros(len(run), dtype=np.int64))
            run = []
        first, last, n, delta = item
        h, o = _play(log, first, last, played)
        handles.append(np.tile(h, n))
        offsets.append(np.tile(o, n) + np.repeat(np.arange(1, n + 1, dtype=np.int64) * delta,
                                                 len(h)))
    handles.append(np.array(run, dtype=np.int64))
    offsets.append(np.zeros(len(run), dtype=np.int64))
    played[key] = np.concatenate(handles), np.concatenate(offsets)
    return played[key]

