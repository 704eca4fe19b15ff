"""Fuzzing the input boundaries: whatever bytes a user feeds satsim, it answers by the contract.

Bad input gives one ``error: ...`` line on stderr naming the input (file or option), exit code
2, no traceback and no output left behind (no ``--json`` file, no sweep folder); good input
exits 0 and writes valid JSON (a sweep: readable results). Inputs are shipped or freshly made
files mutated structurally and byte by byte (strategies and classifier in ``tests/fuzzing.py``;
``benchmarks/fuzz_parsers.py`` runs the same for much longer).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fuzzing import (
    EDGE_CASES,
    Case,
    run_case,
    schedule_case,
    set_case,
    sweep_case,
    trace_case,
    yaml_case,
)
from fuzzing import csv_case as csv_workload_case
from hypothesis import HealthCheck, given, settings

FUZZ = settings(max_examples=500, derandomize=True, database=None, deadline=None,
                print_blob=False, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _no_escape(case: Case, workdir: Path) -> None:
    outcome = run_case(case, workdir)
    if outcome.escaped:
        raise AssertionError(f"{outcome.kind} at {outcome.where or '-'}\n{outcome.detail}\n"
                             f"{case.show()}") from outcome.exc


@FUZZ
@given(case=trace_case())
def test_trace_reader_answers_any_bytes_by_the_contract(workdir: Path, case: Case) -> None:
    """A mutated trace (.jsonl) either runs (exit 0) or is rejected with one error line that
    names the file, exit 2: deep nesting, huge numbers, NaN, wrong types, missing, duplicated
    or unknown fields, reordered lines, a wrong end count, non-UTF-8 bytes, BOM and CRLF."""
    _no_escape(case, workdir)


@FUZZ
@given(case=yaml_case("--hw"))
def test_hardware_yaml_answers_any_bytes_by_the_contract(workdir: Path, case: Case) -> None:
    """A mutated --hw YAML either runs or is rejected with one error line naming the file,
    exit 2: duplicate keys, booleans and .inf/.nan for numbers, tags, anchors and alias bombs,
    lists where mappings belong, deep nesting, huge integers, broken bytes."""
    _no_escape(case, workdir)


@FUZZ
@given(case=yaml_case("--dataflow"))
def test_dataflow_yaml_answers_any_bytes_by_the_contract(workdir: Path, case: Case) -> None:
    """A mutated --dataflow YAML either runs or is rejected with one error line naming the
    file, exit 2: unknown stationarities and phases, numbers for booleans, duplicate and
    unknown keys, tags, deep nesting, broken bytes."""
    _no_escape(case, workdir)


@FUZZ
@given(case=csv_workload_case())
def test_csv_workloads_answer_any_bytes_by_the_contract(workdir: Path, case: Case) -> None:
    """A mutated plain or SCALE-Sim CSV workload either runs or is rejected with one error line
    naming the file, exit 2: missing, extra or reordered columns, quotes, empty cells, huge
    values, unicode digits, non-UTF-8 bytes, BOM and CRLF."""
    _no_escape(case, workdir)


@FUZZ
@given(case=set_case())
def test_set_overrides_answer_any_value_by_the_contract(workdir: Path, case: Case) -> None:
    """Any --set KEY=VALUE list (real dotted config paths and mutations of them; YAML scalars,
    tags and junk as values), optionally with --sparsity/--method, either runs or is rejected
    with one error line naming --set or the config file, exit 2."""
    _no_escape(case, workdir)


@FUZZ
@given(case=schedule_case())
def test_schedule_files_answer_any_bytes_by_the_contract(workdir: Path, case: Case) -> None:
    """A mutated schedule file (satsim run --schedule) either runs or is rejected with one
    error line naming the file (and the field), exit 2: unknown, missing, renamed and
    duplicated keys at any level, bools and strings for integers, huge integers, tiles of the
    wrong shape, reordered or out-of-range record indices, nested junk, non-UTF-8 bytes."""
    _no_escape(case, workdir)


@FUZZ
@given(case=sweep_case())
def test_sweep_specs_answer_any_bytes_by_the_contract(workdir: Path, case: Case) -> None:
    """A mutated sweep spec either runs (exit 0, or 1 when every point failed, with readable
    results in --out) or is rejected with one error line naming the spec, exit 2, and nothing
    written: unknown enum values and keys, values beyond the limits, negative seeds, duplicate
    axis paths, samples beyond the grid, unquoted N:M, broken bytes. (Each example forks a
    process pool: 500 take 26 s on two idle cores.)"""
    _no_escape(case, workdir)


@pytest.mark.parametrize("case", [pytest.param(case, id=f"{parser}-{label}")
                                  for parser, cases in EDGE_CASES.items()
                                  for label, case in cases])
def test_hard_inputs_answer_by_the_contract(workdir: Path, case: Case) -> None:
    """The hard input classes the fuzzers aim at, one fixed input each (the random search may
    need thousands of examples to hit one): deep nesting, numbers past Python's int/str or
    float limits, non-UTF-8 bytes, YAML tags and alias bombs, newlines inside echoed names.
    Those known to be bad (an unknown key, a negative seed, ...) must be rejected, not run."""
    _no_escape(case, workdir)
