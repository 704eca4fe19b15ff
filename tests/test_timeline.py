"""The timeline of ``satsim run --timeline``: made from the one-pass clock's records, equal
to the SimPy engine's event for event, and cut to a window of cycles or some layers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from satsim.config import load_machine
from satsim.errors import SatsimError
from satsim.machine.costs import Machine
from satsim.report.timeline import chrome_trace
from satsim.report.trace_events import Cut, TraceEvents
from satsim.search.evaluate import evaluate, plan
from satsim.timing.engine import execute
from satsim.trace.workload import load_workload, resolve_workload

TINY = str(Path(__file__).parent / "data" / "fuzz" / "resnet9-tiny-bdwp.jsonl")


def _clock_and_simpy(workload: str, hardware: str):
    """One run's timeline both ways: from the clock's records (what ``satsim run`` writes)
    and from its Program executed by the SimPy engine (the twin)."""
    hw, policy = load_machine(hardware, None, [])
    trace = load_workload(resolve_workload(workload))
    run = evaluate(trace, hw, policy, record=True)
    machine = Machine.from_hardware(hw)
    built = plan(trace, hw, policy, schedule=run.schedule)
    simpy = chrome_trace(built, execute(built.program, machine), machine, hw.clock_mhz,
                         trace.name)
    return run, TraceEvents(run.records, machine, hw.clock_mhz, trace.name), simpy


@pytest.mark.parametrize(("workload", "hardware"), [
    ("resnet9-cifar-bdwp", "sat"), ("resnet9-cifar-bdwp", "sat-x2"),
    ("resnet9-cifar-bdwp", "sat-small"), ("resnet9-cifar-dense", "tc-2of4"),
    ("llama-tiny-bdwp", "sat"), ("llama-tiny-bdwp", "sat-x2")])
def test_the_clocks_timeline_is_the_simpy_engines_event_for_event(workload, hardware):
    """On shipped traces and presets (one or two STCEs and DMA queues, ideal memory, a
    tensor-core engine), the document made from the one-pass clock's records equals the one
    made by executing the built Program with the SimPy engine: every event, in order, every
    field (task ids, cycles, bytes per channel, bandwidth and buffer counters). With a
    memory system the clock skipped periods, so their playback is what is compared (on
    ideal memory, sat-small, a record is one task: nothing repeats)."""
    run, clock, simpy = _clock_and_simpy(workload, hardware)
    assert (run.timed < run.tasks) == (hardware != "sat-small")
    document = clock.document()
    assert len(document["traceEvents"]) == len(simpy["traceEvents"])
    assert document == simpy


@pytest.fixture(scope="module")
def resnet9():
    """ResNet-9 on ``sat``: its records, machine, and the uncut document."""
    hw, policy = load_machine("sat", None, [])
    trace = load_workload(resolve_workload("resnet9-cifar-bdwp"))
    records = evaluate(trace, hw, policy, record=True).records
    machine = Machine.from_hardware(hw)

    def document(cut: Cut | None = None) -> dict:
        return TraceEvents(records, machine, hw.clock_mhz, trace.name, cut).document()

    return document, records


def _spans(doc: dict) -> list[dict]:
    return [e for e in doc["traceEvents"] if e["ph"] == "X"]


def _samples(doc: dict, kind: str) -> list[dict]:
    return [e for e in doc["traceEvents"] if e["ph"] == "C" and kind in e["name"]]


def _check_counters(cut: dict, full: dict) -> None:
    """The cut's buffer samples: the full run's from its first task's start to its last's
    end, with each buffer's sample before; a bandwidth sample per kept transfer's start and
    end."""
    spans = _spans(cut)
    low = min(e["args"]["start_cycle"] for e in spans)
    high = max(e["args"]["end_cycle"] for e in spans)
    us = 1 / full["otherData"]["clock_mhz"]
    expected = []
    for name in dict.fromkeys(e["name"] for e in _samples(full, "buffer")):
        curve = [e for e in _samples(full, "buffer") if e["name"] == name]
        before = [e for e in curve if e["ts"] <= low * us]
        expected += before[-1:] + [e for e in curve if low * us < e["ts"] <= high * us]
    key = lambda e: (e["ts"], e["name"])  # noqa: E731
    assert sorted(_samples(cut, "buffer"), key=key) == sorted(expected, key=key)
    transfers = {e["args"]["task"] for e in spans if "direction" in e["args"]}
    assert len(_samples(cut, "bandwidth")) == 2 * len(transfers)


def test_a_window_keeps_the_tasks_overlapping_it(resnet9):
    """``--timeline-window 1000000:1200000`` keeps exactly the tasks running in those
    cycles (a task ending at 1,000,000 or starting at 1,200,000 is not), every event of each,
    the counters of that stretch, and says so in ``otherData.cut``."""
    document, records = resnet9
    full = document()
    cut = document(Cut(window=(1_000_000, 1_200_000)))
    kept = [e for e in _spans(full)
            if e["args"]["start_cycle"] < 1_200_000 and e["args"]["end_cycle"] > 1_000_000]
    assert 0 < len(kept) < len(_spans(full)) / 10
    assert _spans(cut) == kept
    tasks = len({e["args"]["task"] for e in kept})
    assert cut["otherData"]["cut"] == {"window_cycles": [1_000_000, 1_200_000],
                                       "layers": None, "tasks_kept": tasks,
                                       "tasks": len(records.start)}
    assert cut["otherData"]["cycles"] == full["otherData"]["cycles"]
    _check_counters(cut, full)


def test_layers_keep_their_tasks_and_a_window_narrows_them(resnet9):
    """``--timeline-layers layer1.conv,fc`` keeps every task of those two layers and no
    other; with a window as well, those of them in the window; an open end
    (``START:``) runs to the end of the run."""
    document, _ = resnet9
    full = document()
    layers = ("layer1.conv", "fc")
    cut = document(Cut(layers=layers))
    assert _spans(cut) == [e for e in _spans(full) if e["args"]["layer"] in layers]
    assert {e["args"]["layer"] for e in _spans(cut)} == set(layers)
    _check_counters(cut, full)
    start = 10_000_000
    both = document(Cut(window=(start, None), layers=layers))
    assert _spans(both) == [e for e in _spans(cut) if e["args"]["end_cycle"] > start]
    assert 0 < len(_spans(both)) < len(_spans(cut))
    assert both["otherData"]["cut"]["window_cycles"] == [start, None]


def test_a_cut_that_keeps_nothing_is_an_error(resnet9):
    """A window after the run's end keeps no task: an error naming the option, not an
    empty document."""
    _, records = resnet9
    hw, _ = load_machine("sat", None, [])
    with pytest.raises(SatsimError, match="keeps no task") as caught:
        TraceEvents(records, Machine.from_hardware(hw), hw.clock_mhz, "r9",
                    Cut(window=(records.cycles + 1, None)))
    assert caught.value.source == "--timeline-window"


@pytest.mark.parametrize(("options", "option"), [
    (["--timeline-window", "5:3"], "--timeline-window"),
    (["--timeline-window", "a:b"], "--timeline-window"),
    (["--timeline-window", ":"], "--timeline-window"),
    (["--timeline-window", "-1:5"], "--timeline-window"),
    (["--timeline-window", "100"], "--timeline-window"),
    (["--timeline-layers", "fc,,conv1"], "--timeline-layers"),
    (["--timeline-layers", "no.such.layer"], "--timeline-layers"),
    (["--timeline-window", "999999999999:"], "--timeline-window"),
])
def test_bad_cuts_are_one_error_line_and_no_file(cli, tmp_path, options, option):
    """A malformed window (START not below END, not numbers, nothing given, no colon), an
    empty layer name, a layer the workload lacks, a cut that keeps no task: exit 2, one
    ``error:`` line naming the option, no timeline file."""
    out = tmp_path / "t.json"
    done = cli("run", "--workload", TINY, "--timeline", str(out), *options)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert option in done.stderr
    assert not out.exists() and not list(tmp_path.iterdir())


def test_a_cut_needs_a_timeline(cli):
    """``--timeline-layers`` without ``--timeline``: nothing to cut, an error naming it."""
    done = cli("run", "--workload", TINY, "--timeline-layers", "fc")
    assert done.returncode == 2
    assert done.stderr.startswith("error: --timeline-layers") and "--timeline FILE" in (
        done.stderr)


def test_the_cli_writes_the_cut_it_was_asked_for(cli, tmp_path):
    """``satsim run --timeline FILE --timeline-layers fc`` writes fc's tasks only, and the
    document says what was cut."""
    out = tmp_path / "t.json"
    done = cli("run", "--workload", TINY, "--timeline", str(out), "--timeline-layers", "fc")
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    assert {e["args"]["layer"] for e in _spans(doc)} == {"fc"}
    assert doc["otherData"]["cut"]["layers"] == ["fc"]
