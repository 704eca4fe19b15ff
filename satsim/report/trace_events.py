"""The timeline of ``satsim run --timeline`` at the one-pass clock's speed, and its cuts.

The document is :func:`satsim.report.timeline.chrome_trace`'s, event for event (tested equal),
but made from the clock's records of every task (:class:`~satsim.timing.records.TaskRecords`)
rather than from a Program executed by the SimPy engine, and written as it is made: columns
of numbers turned into JSON text by Arrow a slice of tasks at a time, never a dict per event
(millions of them for a large run).

A :class:`Cut` keeps part of a long run: the tasks overlapping a window of cycles, or those
of some layers (both: those of the layers in the window), the DRAM bandwidth counters of the
transfers kept, and the buffer counters from the first task kept to the end of the last (with
each buffer's level before it). The document's ``otherData.cut`` says what was kept.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from satsim.errors import SatsimError
from satsim.files import write_atomic
from satsim.machine.costs import Machine, busy_cycles
from satsim.machine.program import Transfer, Unit
from satsim.report.timeline import CHANNEL_TID, INSTANCE_TID, PID, TRACKS
from satsim.timing.clock import UNIT_AT
from satsim.timing.records import TaskRecords
from satsim.trace.schema import Trace

_DRAM = UNIT_AT[Unit.DRAM]
_TRACK = np.array([TRACKS[u][0] if u in TRACKS else 0 for u in Unit])  # by UNIT_AT
_SLICE = 1 << 16  # tasks (or counter samples) turned into text at a time


@dataclass(frozen=True)
class Cut:
    """What part of a run the timeline keeps: a window of cycles ``[start, end)`` (None:
    open on that side) and/or some layers (None: all)."""

    window: tuple[int | None, int | None] | None = None
    layers: tuple[str, ...] | None = None

    def describe(self, kept: int, tasks: int) -> dict:
        """``otherData.cut``: the cut, and how many of the run's tasks it kept."""
        return {"window_cycles": list(self.window) if self.window else None,
                "layers": list(self.layers) if self.layers else None,
                "tasks_kept": kept, "tasks": tasks}


class TraceEvents:
    """A run's Chrome trace-event document, made from the clock's records: :meth:`write`
    streams it to a file, :meth:`document` parses it (for small runs and tests).

    Raises :class:`~satsim.errors.SatsimError` if ``cut`` names a layer the run does not
    have or keeps no task."""

    def __init__(self, records: TaskRecords, machine: Machine, clock_mhz: float, name: str,
                 cut: Cut | None = None) -> None:
        self.records, self.machine, self.clock_mhz, self.name = records, machine, clock_mhz, name
        self.cut = cut
        self.kept = _select(records, cut)
        transfers = [w if isinstance(w, Transfer) else None for w in records.works]
        # Per work: bytes moved, whether a store (transfers; else 0).
        self._bytes = np.array([w.bytes if w else 0 for w in transfers], dtype=np.int64)
        self._stores = np.array([bool(w and w.write) for w in transfers])

    @property
    def cycles(self) -> int:
        return self.records.cycles

    def chunks(self) -> Iterator[bytes | memoryview]:
        """The document's text, a piece at a time."""
        r, us = self.records, 1.0 / self.clock_mhz
        yield b'{"traceEvents":[' + ",".join(map(_json, self._names())).encode()
        per_queue = self.machine.queue_channels
        for first in range(0, len(self.kept), _SLICE):
            yield _text(self._spans(self.kept[first:first + _SLICE], per_queue, us))
        for first in range(0, len(self._counters[0]), _SLICE):
            yield _text(self._samples(slice(first, first + _SLICE), us))
        other = {"clock_mhz": self.clock_mhz, "cycles": r.cycles}
        if self.cut is not None:
            other["cut"] = self.cut.describe(len(self.kept), len(r.start))
        yield f'],"displayTimeUnit":"ns","otherData":{_json(other)}}}'.encode()

    def write(self, path: str | Path) -> None:
        write_atomic(path, lambda handle: handle.writelines(self.chunks()))

    def document(self) -> dict:
        return json.loads(b"".join(self.chunks()))

    def _names(self) -> list[dict]:
        """The metadata events: the process, and a track per unit instance and channel."""
        r, machine = self.records, self.machine
        events: list[dict] = [{"ph": "M", "pid": PID, "name": "process_name",
                               "args": {"name": f"satsim: {self.name}"}}]
        pairs = np.unique(r.unit.astype(np.int64) << 32 | r.instance).tolist()
        used = {(pair >> 32, pair & 0xFFFFFFFF) for pair in pairs}
        for unit, (tid, label) in TRACKS.items():
            several = machine.count[unit] > 1
            for instance in range(machine.count[unit]):
                if (UNIT_AT[unit], instance) in used:
                    events.append({"ph": "M", "pid": PID, "tid": tid + INSTANCE_TID * instance,
                                   "name": "thread_name",
                                   "args": {"name": f"{label} {instance}" if several
                                            else label}})
        per_queue, queues = machine.queue_channels, machine.count[Unit.DRAM]
        if any(unit == _DRAM for unit, _ in used):
            for c in range(machine.dram_channels):
                queue = f" (DMA queue {c // per_queue})" if queues > 1 else ""
                events.append({"ph": "M", "pid": PID, "tid": CHANNEL_TID + c,
                               "name": "thread_name",
                               "args": {"name": f"DRAM channel {c}{queue}"}})
        return events

    def _spans(self, tasks: np.ndarray, per_queue: int, us: float) -> pa.Array:
        """The complete events of ``tasks``: one per task, a DRAM transfer's one per channel
        that moves some of its bytes (``len(range(c, bytes, per_queue))`` of them)."""
        r = self.records
        sizes = self._bytes[r.work[tasks]]
        dram = r.unit[tasks] == _DRAM
        channels = np.where(dram, np.minimum(sizes, per_queue), 1)
        at = np.repeat(np.arange(len(tasks)), channels)  # each event's task, in ``tasks``
        channel = np.arange(len(at)) - np.repeat(np.cumsum(channels) - channels, channels)
        task = tasks[at]
        share = (sizes[at] - channel + per_queue - 1) // per_queue
        is_dram = dram[at]
        tid = np.where(is_dram, CHANNEL_TID + r.instance[task] * per_queue + channel,
                       _TRACK[r.unit[task]] + INSTANCE_TID * r.instance[task])
        kind = np.where(is_dram, 1 + self._stores[r.work[task]], 0)  # 0 work, 1 load, 2 store
        key = (r.op[task] << 24) | (tid << 2) | kind
        keys, which = np.unique(key, return_inverse=True)
        heads = pa.array([self._head(int(k) >> 24, (int(k) >> 2) & 0x3FFFFF, int(k) & 3)
                          for k in keys.tolist()])
        # The numbers of each task, as text once (a transfer's events share them).
        start, end = r.start[tasks], r.end[tasks]
        times = pc.binary_join_element_wise(
            _numbers(tasks), ',"start_cycle":', _numbers(start), ',"end_cycle":',
            _numbers(end), "")
        spans = pc.binary_join_element_wise(
            '},"ts":', _numbers(start * us), ',"dur":', _numbers((end - start) * us), "}", "")
        at = pa.array(at)
        parts = [heads.take(pa.array(which)), times.take(at)]
        if is_dram.any():
            parts.append(pc.if_else(pa.array(is_dram), pc.binary_join_element_wise(
                ',"bytes":', _numbers(share), ""), ""))
        return pc.binary_join_element_wise(*parts, spans.take(at), "")

    def _head(self, op: int, tid: int, kind: int) -> str:
        """An event's text up to its task id: everything its record, track and kind fix."""
        phase, label = self.records.names[op]
        args = {"layer": label, "phase": str(phase) if phase else None, "record": op}
        name = f"{phase or ''} {label}".strip()
        if kind:
            direction = "store" if kind == 2 else "load"
            name, args["direction"] = f"{direction} {label}", direction
        head = {"ph": "X", "pid": PID, "cat": str(phase) if phase else "other", "tid": tid,
                "name": name, "args": args}
        return "," + _json(head)[:-2] + ',"task":'

    @cached_property
    def _counters(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every counter sample kept, in time order: its cycle, its counter (a DMA queue's
        bandwidth, then the buffers) and its value."""
        return _counter_samples(self.records, self.kept, self.machine, self.clock_mhz)

    def _samples(self, part: slice, us: float) -> pa.Array:
        cycle, counter, value = (column[part] for column in self._counters)
        named = [(name, "GB/s") for name in _bandwidth_names(self.machine)]
        named += [(f"buffer {b} (KiB)", "KiB") for b in self.records.buffers]
        heads = [f',{{"ph":"C","pid":{PID},"name":{_json(name)},"args":{{"{unit}":'
                 for name, unit in named]
        return pc.binary_join_element_wise(pa.array(heads).take(pa.array(counter)),
                                           _numbers(value), '},"ts":', _numbers(cycle * us),
                                           "}", "")


def _bandwidth_names(machine: Machine) -> list[str]:
    queues = machine.count[Unit.DRAM]
    if queues == 1:
        return ["DRAM bandwidth (GB/s)"]  # a queue's transfers do not overlap
    return [f"DMA queue {q} bandwidth (GB/s)" for q in range(queues)]


def _counter_samples(r: TaskRecords, kept: np.ndarray, machine: Machine,
                     clock_mhz: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The counters' samples (see :attr:`TraceEvents._counters`): a queue's bandwidth from
    each transfer's start to its end, then each buffer's occupancy at every change; at one
    cycle, samples that end something come before those that start something, else in that
    order."""
    us = 1.0 / clock_mhz
    transfers = kept[r.unit[kept] == _DRAM]
    rates = np.array([w.bytes / (busy_cycles(w, machine) * us * 1e3)
                      if isinstance(w, Transfer) else 0.0 for w in r.works])
    cycles = [np.column_stack([r.start[transfers], r.end[transfers]]).ravel()]
    starts = [np.tile([1, 0], len(transfers))]
    counters = [np.repeat(r.instance[transfers], 2)]
    values = [np.column_stack([rates[r.work[transfers]],
                               np.zeros(len(transfers))]).ravel()]
    queues = machine.count[Unit.DRAM]
    if len(kept):
        low, high = r.start[kept].min(), r.end[kept].max()
    for b, (cycle, held) in enumerate(_occupancy(r)):
        if len(kept) < len(r.start):  # cut: the first task's start to the last's end
            first = max(np.searchsorted(cycle, low, side="right") - 1, 0)
            last = np.searchsorted(cycle, high, side="right")
            cycle, held = cycle[first:last], held[first:last]
        cycles.append(cycle)
        starts.append(np.zeros(len(cycle), dtype=np.int64))
        counters.append(np.full(len(cycle), queues + b))
        values.append(held / 1024)
    cycle, start = np.concatenate(cycles), np.concatenate(starts)
    order = np.lexsort((np.arange(len(cycle)), start, cycle))
    return (cycle[order], np.concatenate(counters)[order],
            np.concatenate(values)[order])


def _occupancy(r: TaskRecords) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Per buffer, :func:`satsim.timing.timeline.occupancy`'s curve: the bytes held after
    each cycle at which a holding is taken or freed."""
    for b in range(len(r.buffers)):
        mine = r.hold_buffer == b
        if not mine.any():
            yield np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
            continue
        size = r.hold_bytes[mine]
        cycle = np.concatenate([r.hold_taken[mine], r.hold_freed[mine]])
        held = np.cumsum(np.concatenate([size, -size])[np.argsort(cycle, kind="stable")])
        cycle = np.sort(cycle, kind="stable")
        last = np.flatnonzero(np.append(cycle[1:] != cycle[:-1], True))  # a cycle's last
        yield cycle[last], held[last]


def _select(r: TaskRecords, cut: Cut | None) -> np.ndarray:
    """The ids of the tasks ``cut`` keeps."""
    keep = np.ones(len(r.start), dtype=bool)
    if cut is None:
        return np.flatnonzero(keep)
    if cut.window is not None:
        low, high = cut.window
        if low is not None:  # overlapping it, or starting in it (an empty task)
            keep &= (r.end > low) | (r.start >= low)
        if high is not None:
            keep &= r.start < high
    if cut.layers is not None:
        ops = [op for op, (_, label) in r.names.items() if label in cut.layers]
        keep &= np.isin(r.op, ops)
    if not keep.any():
        what = " and ".join(f"{option} {value}" for option, value in (
            ("--timeline-window", _window_text(cut.window)),
            ("--timeline-layers", ",".join(cut.layers or ()))) if value)
        raise SatsimError(f"{what} keeps no task of the run ({r.cycles:,} cycles)",
                          source="--timeline-window" if cut.window else "--timeline-layers")
    return np.flatnonzero(keep)


def check_layers(layers: tuple[str, ...], trace: Trace) -> None:
    """Each of ``layers`` names a layer of ``trace``, else a :class:`SatsimError`."""
    known = {record.layer for record in trace.records}
    unknown = [layer for layer in layers if layer not in known]
    if unknown:
        some = sorted(known)
        shown = ", ".join(some[:5]) + (", ..." if len(some) > 5 else "")
        raise SatsimError(f"no layer {', '.join(map(repr, unknown))} in workload {trace.name} "
                          f"(its layers: {shown})", source="--timeline-layers")


def _window_text(window: tuple[int | None, int | None] | None) -> str:
    if window is None:
        return ""
    return ":".join("" if x is None else str(x) for x in window)


def _numbers(values: np.ndarray) -> pa.Array:
    """Numbers as JSON text (Arrow's shortest round-trip form for floats)."""
    return pc.cast(pa.array(values), pa.string())


def _json(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def _text(events: pa.Array) -> memoryview:
    """A string array's characters, end to end."""
    offsets = np.frombuffer(events.buffers()[1], dtype=np.int32,
                            count=len(events) + 1, offset=4 * events.offset)
    return memoryview(events.buffers()[2])[offsets[0]:offsets[-1]]
