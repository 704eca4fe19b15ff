"""Schedule files: the offline scheduler's choices written, read back, edited and cached."""

import dataclasses
import re

import pytest

import satsim.search.evaluate as fast
from satsim.config import load_dataflow, load_hardware
from satsim.errors import SatsimError
from satsim.resources import shipped
from satsim.schedule.choices import GemmChoice, read_schedule, write_schedule
from satsim.schedule.tiling import Sizes, gemm_bytes
from satsim.search.evaluate import evaluate
from satsim.trace.io import read_trace
from satsim.types import Stationarity

SAT, POLICY = load_hardware("sat"), load_dataflow("sat")
TRACE = read_trace(shipped("workloads", (".jsonl",))["resnet9-cifar-bdwp"])


@pytest.fixture(scope="module")
def searched():
    fast._CHOSEN.clear()
    return evaluate(TRACE, SAT, POLICY)


def _reread(schedule, tmp_path, name="s.yaml"):
    path = tmp_path / name
    write_schedule(schedule, path)
    return read_schedule(path, TRACE, SAT, POLICY)


def test_a_schedule_round_trips(searched, tmp_path):
    """Written and read back, the schedule gives the searched run exactly, op by op."""
    again = _reread(searched.schedule, tmp_path)
    assert again.ops == searched.schedule.ops and again.order == searched.schedule.order
    run = evaluate(TRACE, SAT, POLICY, again)
    assert (run.cycles, run.rows, run.order, run.tried) == (
        searched.cycles, searched.rows, searched.order, searched.tried)


def _first_gemm(run):
    """A GEMM of one part whose tiles span the whole reduction N-outer, and whose nt halved
    is still a tile size of the ladder (32, 64, 128 ... columns)."""
    for index, choice in run.schedule.ops.items():
        if isinstance(choice, GemmChoice) and len(choice.parts) == 1:
            (mt, kt, nt), n_outer = choice.parts[0]
            shape = run.ops[index].mapping.parts[0].shape
            if n_outer and kt == shape.k and nt >= 64 and (nt & (nt - 1)) == 0:
                return index, choice, shape
    raise AssertionError("no such GEMM")


def test_a_narrower_tile_moves_the_activations_once_more_per_column(searched, tmp_path):
    """Hand edit: halve a GEMM's nt. N-outer over a whole reduction loads its A operand
    once per column of tiles and B once, so its DRAM reads grow by exactly A's bytes per
    extra column; the other ops keep their tiles and bytes."""
    schedule = searched.schedule
    index, choice, shape = _first_gemm(searched)
    (mt, kt, nt), _ = choice.parts[0]
    edited = dataclasses.replace(schedule, ops={**schedule.ops, index: GemmChoice(
        choice.stationarity, (((mt, kt, nt // 2), True),))})
    run = evaluate(TRACE, SAT, POLICY, _reread(edited, tmp_path))
    a = gemm_bytes(TRACE.records[index], Sizes(TRACE, SAT), 2).a
    more = -(-shape.n // (nt // 2)) - -(-shape.n // nt)
    assert more >= 1
    assert run.ops[index].dram_read_bytes == searched.ops[index].dram_read_bytes + more * a
    assert run.cycles != searched.cycles
    assert all(run.ops[i].dram_read_bytes == searched.ops[i].dram_read_bytes
               for i in run.ops if i != index)


def test_an_edited_stationarity_is_the_one_run(searched, tmp_path):
    """Hand edit: every GEMM to the other stationarity (tiles kept): each runs it."""
    schedule = searched.schedule
    flip = {Stationarity.OS: Stationarity.WS, Stationarity.WS: Stationarity.OS}
    ops = {i: dataclasses.replace(c, stationarity=flip[c.stationarity])
           if isinstance(c, GemmChoice) else c for i, c in schedule.ops.items()}
    run = evaluate(TRACE, SAT, POLICY, _reread(dataclasses.replace(schedule, ops=ops),
                                                tmp_path))
    for index, choice in ops.items():
        if isinstance(choice, GemmChoice):
            assert run.ops[index].mapping.stationarity is choice.stationarity
    assert run.cycles > searched.cycles  # the search had chosen the faster per op


def test_an_edited_issue_order_is_the_one_run(searched, tmp_path):
    """Hand edit: the trace's own order instead of the one chosen: the run is the trace
    order's, as the search timed it."""
    schedule = searched.schedule
    assert schedule.order != tuple(range(len(TRACE.records)))
    edited = dataclasses.replace(schedule, order=tuple(range(len(TRACE.records))))
    run = evaluate(TRACE, SAT, POLICY, _reread(edited, tmp_path))
    assert run.cycles == searched.tried["trace order"]


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.replace("made_for:\n  workload: {name: resnet9-cifar, sha256: ",
                         "made_for:\n  workload: {name: resnet9-cifar, sha256: 0"),
     r"made_for\.workload: made for workload 'resnet9-cifar' with another content"),
    (lambda d: d.replace("issue_order: [0, 1,", "issue_order: [1, 1,"),
     r"issue_order: must list every record index 0\.\.\d+ once"),
    (lambda d: d.replace("issue_order: [0, 1,", "issue_order: [1, 0,"),
     r"issue_order: record 1 comes before record 0, which it depends on"),
    (lambda d: d.replace("stationarity: os", "stationarity: xs", 1),
     r"ops\[\d+\]\.stationarity: must be os, ws"),
    (lambda d: d.replace("loop: n-outer", "loop: sideways", 1),
     r"ops\[\d+\]\.parts\[0\]\.loop: must be n-outer or m-outer"),
])
def test_a_broken_schedule_names_its_field(searched, tmp_path, edit, message):
    path = tmp_path / "s.yaml"
    write_schedule(searched.schedule, path)
    path.write_text(edit(path.read_text()))
    with pytest.raises(SatsimError, match=f"{path}: {message}"):
        read_schedule(path, TRACE, SAT, POLICY)


_PART = "    loop: n-outer\n"  # the first GEMM's first part ends here


@pytest.mark.parametrize("edit, message", [
    pytest.param(lambda d: d + "foo: 1\n", r"foo: unknown key", id="unknown-key-top"),
    pytest.param(lambda d: d.replace("made_for:\n", "made_for:\n  foo: 1\n"),
                 r"made_for\.foo: unknown key", id="unknown-key-made-for"),
    pytest.param(lambda d: d.replace("- record: 0\n", "- record: 0\n  foo: 1\n"),
                 r"ops\[0\]\.foo: unknown key", id="unknown-key-op"),
    pytest.param(lambda d: d.replace(_PART, _PART + "    foo: 1\n", 1),
                 r"ops\[0\]\.parts\[0\]\.foo: unknown key", id="unknown-key-part"),
    pytest.param(lambda d: d.replace("{record: 1, chunk: 8192}", "{record: 1, chunk: 8192, x: 1}"),
                 r"ops\[1\]\.x: unknown key", id="unknown-key-stream"),
    pytest.param(lambda d: d.replace("- record: 0\n", "- record: false\n"),
                 r"ops\[0\]\.record: Input should be a valid integer", id="bool-record"),
    pytest.param(lambda d: d.replace("{record: 1, chunk: 8192}", "{record: 1, chunk: true}"),
                 r"ops\[1\]\.chunk: Input should be a valid integer", id="bool-chunk"),
    pytest.param(lambda d: re.sub(r"cycles: \d+", "cycles: yes", d),
                 r"cycles: Input should be a valid integer", id="bool-cycles"),
    pytest.param(lambda d: d.replace("version: 1", "version: true"),
                 r"version: Input should be a valid integer", id="bool-version"),
    pytest.param(lambda d: d.replace("issue_order: [0,", "issue_order: ['0',"),
                 r"issue_order\[0\]: Input should be a valid integer", id="string-index"),
    pytest.param(lambda d: re.sub(r"tile: \[[^]]*\]", "tile: '8x8x8'", d, count=1),
                 r"ops\[0\]\.parts\[0\]\.tile: Input should be a valid list",
                 id="string-tile"),
    pytest.param(lambda d: re.sub(r"tile: \[(\d+), \d+, ", r"tile: [\1, '8', ", d, count=1),
                 r"ops\[0\]\.parts\[0\]\.tile\[1\]: Input should be a valid integer",
                 id="string-in-tile"),
    pytest.param(lambda d: re.sub(r"tile: \[(\d+), ", "tile: [", d, count=1),
                 r"ops\[0\]\.parts\[0\]\.tile: List should have at least 3 items",
                 id="short-tile"),
    pytest.param(lambda d: re.sub(r"cycles: \d+", f"cycles: {10**30}", d),
                 r"cycles: Input should be less than or equal to 9223372036854775807",
                 id="huge-int"),
    pytest.param(lambda d: re.sub(r"cycles: \d+", "cycles: " + "9" * 5000, d),
                 r"malformed YAML: Exceeds the limit \(4300 digits\)", id="5000-digit-int"),
    pytest.param(lambda d: re.sub(r"orders_tried: .*", "orders_tried: [1, 2]", d),
                 r"orders_tried: Input should be a valid dictionary", id="list-for-mapping"),
    pytest.param(lambda d: re.sub(r"  workload: .*", "  workload: [1]", d),
                 r"made_for\.workload: Input should be a valid dictionary", id="list-made-for"),
    pytest.param(lambda d: re.sub(r"issue_order: [^a-z]*", "", d),
                 r"issue_order: required key is missing", id="missing-issue-order"),
    pytest.param(lambda d: re.sub(r"  hardware: .*\n", "", d),
                 r"made_for\.hardware: required key is missing", id="missing-made-for"),
    pytest.param(lambda d: d.replace(_PART, "", 1),
                 r"ops\[0\]\.parts\[0\]\.loop: required key is missing", id="missing-loop"),
    pytest.param(lambda d: d.replace("- record: 0\n  stationarity", "- stationarity"),
                 r"ops\[0\]\.record: required key is missing", id="missing-record"),
    pytest.param(lambda d: d.replace("{record: 1, chunk: 8192}", "{record: 1}"),
                 r"ops\[1\]: a GEMM's choice has a stationarity \(and parts\), a stream's a "
                 "chunk", id="neither-gemm-nor-stream"),
    pytest.param(lambda d: d.replace("{record: 1, chunk: 8192}",
                                     "{record: 1, chunk: 8192, stationarity: os}"),
                 r"ops\[1\]: a GEMM's choice has a stationarity", id="gemm-and-stream"),
    pytest.param(lambda d: d + "cycles: 1\n", r"line \d+: malformed YAML: duplicate key 'cycles'",
                 id="duplicate-key"),
    pytest.param(lambda d: d.replace("{record: 2, chunk", "{record: 1, chunk"),
                 r"ops\[2\]\.record: a second choice for record 1", id="record-twice"),
    pytest.param(lambda d: d.replace("{record: 1, chunk", "{record: 999, chunk"),
                 r"ops\[1\]\.record: must be a record index 0\.\.124", id="record-too-big"),
])
def test_a_schedule_file_is_read_strictly(searched, tmp_path, edit, message):
    """Every key, at every level, is known, present when required and of its exact type (a
    bool is not an int, '8' is not 8, a number beyond int64 is not cycles); every key is
    given once and every record chosen for once. The error names the file and the field."""
    path = tmp_path / "s.yaml"
    write_schedule(searched.schedule, path)
    text = path.read_text()
    edited = edit(text)
    assert edited != text
    path.write_text(edited)
    with pytest.raises(SatsimError, match=f"^{re.escape(str(path))}: {message}"):
        read_schedule(path, TRACE, SAT, POLICY)


@pytest.mark.parametrize("data", [bytes(range(256)), b"format: satsim.schedule\n# \xff\n"],
                         ids=["binary", "latin-1"])
def test_a_schedule_that_is_not_utf8_text_is_named(tmp_path, data):
    """A binary or wrongly encoded file is one error naming it and the offending byte."""
    path = tmp_path / "s.yaml"
    path.write_bytes(data)
    with pytest.raises(SatsimError, match=rf"^{re.escape(str(path))}: not UTF-8 text \(byte "):
        read_schedule(path, TRACE, SAT, POLICY)


def test_the_cli_rejects_a_binary_schedule_in_one_line(cli, tmp_path):
    """satsim run --schedule BINARY: one error line naming the file, exit 2, no traceback."""
    path = tmp_path / "s.yaml"
    path.write_bytes(bytes(range(256)) * 4)
    run = cli("run", "--workload", "resnet9-cifar-bdwp", "--schedule", str(path))
    assert run.returncode == 2
    assert run.stderr.startswith(f"error: {path}: not UTF-8 text") and run.stderr.count("\n") == 1


def test_a_schedule_is_only_for_the_machine_it_was_made_for(searched, tmp_path):
    path = tmp_path / "s.yaml"
    write_schedule(searched.schedule, path)
    other = load_hardware("sat", [("vector.lanes", 16)])
    with pytest.raises(SatsimError, match=r"made_for\.hardware: made for hardware 'sat' "
                                          "with another content"):
        read_schedule(path, TRACE, other, POLICY)


def test_another_energy_table_keeps_the_schedule(searched, tmp_path):
    """The energy table prices a run and changes no scheduling choice: a schedule made with
    one table runs with another."""
    path = tmp_path / "s.yaml"
    write_schedule(searched.schedule, path)
    fpga = load_hardware("sat", [("energy", "vcu1525")])
    run = evaluate(TRACE, fpga, POLICY, read_schedule(path, TRACE, fpga, POLICY))
    assert run.cycles == searched.cycles


def test_a_tile_that_is_not_a_choice_is_an_error(searched, tmp_path):
    """A tile size off the ladders (or too big for the buffers) is rejected at its op."""
    schedule = searched.schedule
    index, choice, _ = _first_gemm(searched)
    (mt, kt, nt), _ = choice.parts[0]
    edited = dataclasses.replace(schedule, ops={**schedule.ops, index: GemmChoice(
        choice.stationarity, (((mt, kt, nt - 1), True),))})
    with pytest.raises(SatsimError, match=rf"ops \(record {index}\)\.parts\[0\]\.tile: "
                                          r"\[\d+, \d+, \d+\] is not a tile size"):
        evaluate(TRACE, SAT, POLICY, _reread(edited, tmp_path))


def test_schedules_are_cached_on_disk_by_content(searched, tmp_path, monkeypatch):
    """With a cache folder, a search stores its schedule; a new process (nothing
    remembered) with the same inputs reads it: one order timed, the same run."""
    monkeypatch.setenv("SATSIM_CACHE_DIR", str(tmp_path))
    fast._CHOSEN.clear()
    first = evaluate(TRACE, SAT, POLICY)
    assert len(list((tmp_path / "schedules").glob("*.json"))) == 1
    fast._CHOSEN.clear()
    calls = []
    timed = fast.timed
    monkeypatch.setattr(fast, "timed", lambda *a, **k: calls.append(a) or timed(*a, **k))
    again = evaluate(TRACE, SAT, POLICY)
    assert len(calls) == 1
    assert (again.cycles, again.rows, again.tried) == (first.cycles, first.rows, first.tried)
    assert again.cycles == searched.cycles


def test_the_cli_writes_and_runs_a_schedule(cli, tmp_path):
    out = tmp_path / "s.yaml"
    made = cli("schedule", "--workload", "resnet9-cifar-bdwp", "--out", str(out))
    assert made.returncode == 0, made.stderr
    run = cli("run", "--workload", "resnet9-cifar-bdwp", "--schedule", str(out), "--json", "-")
    assert run.returncode == 0, run.stderr
    assert f"schedule   read from {out}" in run.stderr
    wrong = cli("run", "--workload", "resnet18-cifar-bdwp", "--schedule", str(out))
    assert wrong.returncode == 2 and wrong.stderr.count("\n") == 1
    assert wrong.stderr.startswith(f"error: {out}: made_for.workload: ")


def test_an_edited_schedule_is_not_remembered_for_later_searches(searched, tmp_path):
    """Running an edited schedule does not make it the scheduler's choice: the next run of
    the same inputs without a schedule is the search's again."""
    schedule = searched.schedule
    edited = dataclasses.replace(schedule, order=tuple(range(len(TRACE.records))))
    evaluate(TRACE, SAT, POLICY, _reread(edited, tmp_path))
    again = evaluate(TRACE, SAT, POLICY)
    assert (again.cycles, again.schedule.order) == (searched.cycles, schedule.order)
