"""Several instances of a MAC engine: each GEMM tile's output rows dealt to them, run side by
side, with buffers private to each instance or shared; the Program they make runs the same on
the one-pass clock, the SimPy engine and the cycle-stepped machine reference."""

import pytest

from satsim.api import run
from satsim.config import load_dataflow, load_hardware
from satsim.errors import SatsimError
from satsim.machine.costs import Machine
from satsim.machine.mac import partition
from satsim.machine.program import Compute, Unit
from satsim.resources import shipped
from satsim.search.evaluate import evaluate, plan
from satsim.timing.accounting import op_timings, unit_busy
from satsim.timing.engine import execute
from satsim.timing.machine_reference import run_reference
from satsim.trace.io import read_trace

GEMMS = "name,M,K,N,sparsity\nfc1,70,96,40,2:4\nfc2,33,64,24,\nfc3,8,40,72,1:2\n"


@pytest.mark.parametrize(("rows", "step", "count", "shares"), [
    (100, 32, 2, [64, 36]),  # 4 blocks of 32: two each
    (20, 32, 2, [20]),  # one block: the second instance has none
    (1024, 128, 8, [128] * 8),
    (197, 1, 2, [99, 98]),  # a weight-stationary stream: single rows
    (65, 16, 4, [32, 32, 1]),  # 5 blocks of 16: two per instance; the fourth gets none
])
def test_rows_are_dealt_in_blocks_the_first_instance_the_most(rows, step, count, shares):
    """Blocks of ``step`` rows in contiguous runs of ceil(blocks / count): every row dealt
    once, the first instance never with fewer rows than another."""
    assert partition(rows, step, count) == shares
    assert sum(shares) == rows and shares[0] == max(shares)


def _gang(tmp_path, count: int, private: bool, dma: str = "shared"):
    """sat-small with ``count`` arrays and small buffers (the activations' and outputs' private
    to each array, or shared), one DMA queue or one per array, and three GEMMs to run."""
    private_to = {"private_to": "array"} if private else {}
    memory = {"dram": {"channels": 6, "gbps_per_channel": 0.8, "efficiency": 1.0,
                       "latency_ns": 20, "dma": dma},
              "buffers": {"act": {"kib": 2, "holds": ["activations"], "bytes_per_cycle": 8,
                                  **private_to},
                          "wgt": {"kib": 2, "holds": ["weights"], "bytes_per_cycle": 3,
                                  "ports": 2},
                          "out": {"kib": 2, "holds": ["outputs"], "bytes_per_cycle": 4,
                                  "double_buffer": False, **private_to},
                          "vec": {"kib": 4, "holds": ["vector"], "bytes_per_cycle": 16}}}
    hw = load_hardware("sat-small", [("memory", memory), ("array.rows", 4),
                                     ("array.cols", 4), ("array.count", count)])
    (tmp_path / "g.csv").write_text(GEMMS)
    from satsim.trace import load_workload
    return hw, load_workload(tmp_path / "g.csv")


@pytest.mark.parametrize("count", [2, 3])
@pytest.mark.parametrize(("private", "dma"), [(True, "shared"), (False, "shared"),
                                              (True, "private")])
@pytest.mark.parametrize("dataflow", ["sat", "naive"])
def test_a_gang_schedule_equals_the_machine_reference(tmp_path, count, private, dma, dataflow):
    """GEMMs tiled for 2 or 3 small arrays, buffers private or shared, one DMA queue or one
    per array: the Program runs to the same cycle for every task in the SimPy engine and in
    the cycle-stepped machine reference, and the one-pass clock gives the reference's
    per-record timings."""
    hw, trace = _gang(tmp_path, count, private, dma)
    policy = load_dataflow(dataflow)
    p, m = plan(trace, hw, policy), Machine.from_hardware(hw)
    engine, reference = execute(p.program, m), run_reference(p.program, m)
    assert {t.instance for t in p.program.on(Unit.STCE)} == set(range(count))
    queues = {t.instance for t in p.program.on(Unit.DRAM)}
    assert queues == (set(range(count)) if dma == "private" else {0})
    assert (engine.start, engine.end, engine.peak_bytes) == (
        reference.start, reference.end, reference.peak_bytes)
    fast = evaluate(trace, hw, policy)
    assert fast.rows == op_timings(p, reference, m)
    assert (fast.cycles, fast.peak_bytes) == (reference.cycles, reference.peak_bytes)


@pytest.mark.parametrize(("hw", "workload", "dataflow"), [
    ("sat-x2", "resnet9-cifar-bdwp", "sat"), ("sat-x2", "vit-tiny-srste", "naive"),
    ("tpu-v4", "resnet9-cifar-dense", None), ("tc-2of4", "resnet9-cifar-dense", None)])
def test_the_presets_with_instances_time_alike_on_clock_and_simpy(hw, workload, dataflow):
    """On the presets with several arrays, MXUs or tensor cores, the one-pass clock gives the
    SimPy engine's timings record by record; in every GEMM step the first instance starts no
    earlier and ends no earlier than the others (it frees what they share)."""
    hardware = load_hardware(hw)
    policy = load_dataflow(dataflow or hardware.dataflow)
    trace = read_trace(shipped("workloads", (".jsonl",))[workload])
    p, m = plan(trace, hardware, policy), Machine.from_hardware(hardware)
    t = execute(p.program, m)
    fast = evaluate(trace, hardware, policy)
    assert fast.rows == op_timings(p, t, m)
    assert (fast.cycles, fast.busy, fast.peak_bytes) == (t.cycles, unit_busy(p, t, m),
                                                         t.peak_bytes)
    first = None
    for task in p.program.tasks:
        if isinstance(task.work, Compute):
            if task.instance == 0:
                first = task
            else:
                assert t.start[task.id] <= t.start[first.id] and t.end[task.id] <= t.end[first.id]
    assert {x.instance for x in p.program.on(Unit.STCE)} == set(range(hardware.engine.count))


@pytest.mark.parametrize("memory", ["ideal", None])
def test_every_instance_waits_for_the_inputs_of_its_gemm(memory):
    """A GEMM's tasks on every instance start after the records it reads from end."""
    hw = load_hardware("sat-x2", [("memory", "ideal")] if memory else [])
    trace = read_trace(shipped("workloads", (".jsonl",))["resnet9-cifar-bdwp"])
    p = plan(trace, hw, load_dataflow("sat"))
    t = execute(p.program, Machine.from_hardware(hw))
    for op in p.ops.values():
        ready = max((t.end[h] for h in op.inputs), default=0)
        assert all(t.start[h] >= ready for h in op.tasks)


def test_two_arrays_run_the_gemms_twice_as_fast_on_ideal_memory():
    """The same MACs, the GEMM records' spans halved (at least 1.9x on ResNet-9), the
    iteration faster; with DRAM, never slower and the GEMMs at least 1.5x faster; each array's
    private activation buffer holds its share."""
    def spans(report):
        return sum(r["end"] - r["start"] for r in report.result.rows
                   if r["phase"] in ("FF", "BP", "WG"))

    one, two = (run("resnet9-cifar-bdwp", hw, baseline=False, overrides=["memory=ideal"])
                for hw in ("sat", "sat-x2"))
    assert one.result.macs == two.result.macs
    assert spans(one) >= 1.9 * spans(two) and two.result.cycles < one.result.cycles
    one, two = (run("resnet9-cifar-bdwp", hw, baseline=False) for hw in ("sat", "sat-x2"))
    assert two.result.cycles <= one.result.cycles and spans(one) >= 1.5 * spans(two)
    peaks = two.result.buffers
    assert peaks["act#0"][1] > 0 and peaks["act#1"][1] > 0 and "act" not in peaks


def test_the_report_names_the_instances(cli, tmp_path):
    """`satsim run --hw sat-x2` says two arrays, and the unit table counts them."""
    (tmp_path / "g.csv").write_text(GEMMS)
    done = cli("run", "--hw", "sat-x2", "--workload", "g.csv", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "(2 x 32x32 systolic @ 200 MHz" in done.stdout
    assert "array (32x32 systolic) x 2" in done.stdout


def test_private_dma_queues_divide_the_channels(tmp_path):
    """One DMA queue per array needs channels that divide among them: else one error naming
    the field; with one array, a private DMA is listed as having no effect."""
    with pytest.raises(SatsimError, match=r"^--set array.count, memory.dram.dma: "
                                          r"memory.dram.channels: 4 channels do not divide "
                                          r"among 3 private DMA queues"):
        load_hardware("sat", [("array.count", 3), ("memory.dram.dma", "private")])
    (tmp_path / "g.csv").write_text(GEMMS)
    report = run(tmp_path / "g.csv", "sat", overrides=["memory.dram.dma=private"])
    assert "memory.dram.dma" in report.scope.no_effect
