"""Command-line options: every value is taken as given or refused with one `error:` line
naming the option (exit 2), never ignored or misread."""

import pytest

from satsim.types import NMPattern

LONG = "x" * 5000  # longer than any file name the system takes (OSError: name too long)


def _one_error(done, *expected: str) -> None:
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert "Traceback" not in done.stderr and all(e in done.stderr for e in expected)


def test_bare_satsim_prints_the_usage_and_exits_2(cli):
    """`satsim` without a command does nothing: a usage error, the help on stderr, exit 2."""
    done = cli()
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("usage: satsim") and "run " in done.stderr


def test_dense_with_a_sparsity_is_an_error(cli):
    """--method dense prunes nothing, so --sparsity 2:4 beside it would be ignored: it is an
    error naming --sparsity, not a silent dense run."""
    _one_error(cli("run", "--method", "dense", "--sparsity", "2:4"),
               "error: --sparsity: --method dense prunes no layer, so 2:4 has no meaning")


def test_dense_with_dense_sparsity_runs(cli):
    """--method dense --sparsity dense agree: a dense run."""
    done = cli("run", "--method", "dense", "--sparsity", "dense")
    assert done.returncode == 0 and "(dense, dense)" in done.stdout, done.stderr


def test_a_dense_capture_with_an_nm_is_an_error(cli, tmp_path):
    """`capture --method dense --nm 2:4` would ignore --nm: an error naming it, before any
    work (nothing written)."""
    _one_error(cli("capture", "resnet18-cifar", "--method", "dense", "--nm", "2:4", "--batch",
                   "1", "--out", str(tmp_path / "t.jsonl")),
               "error: --nm: --method dense prunes no layer, so 2:4 has no meaning")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("text", ["٢:٤", "２:４", "2:٤"])
def test_non_ascii_digits_are_no_pattern(text):
    """N:M takes ASCII digits only: Arabic-Indic or full-width digits are refused, as in a
    CSV cell, not read as 2:4."""
    with pytest.raises(ValueError, match="expected 'dense' or 'N:M'"):
        NMPattern.parse(text)


@pytest.mark.parametrize(("args", "expected"), [
    (["run", "--sparsity", "٢:٤"], "error: --sparsity: expected 'dense' or 'N:M'"),
    (["capture", "resnet18-cifar", "--method", "bdwp", "--batch", "٣", "--out", "t.jsonl"],
     "error: argument --batch: expected a whole number, got '٣'"),
    (["compare", "--workers", "+2"], "error: argument --workers: expected a whole number"),
    (["capture", "gpt2-small", "--method", "dense", "--batch", "1", "--optimizer", "adamw",
      "--eps", "1_0", "--out", "t.jsonl"],
     "error: argument --eps: expected a decimal number, got '1_0'"),
    (["capture", "gpt2-small", "--method", "dense", "--batch", "1", "--optimizer", "adamw",
      "--betas", "0.9,٠.٩", "--out", "t.jsonl"],
     "error: argument --betas: expected a decimal number, got '٠.٩'"),
])
def test_options_take_ascii_numbers_only(cli, tmp_path, args, expected):
    """Numbers on the command line are ASCII digits: int() and float() would take '٣' (and
    '+2', '1_0')."""
    _one_error(cli(*args, cwd=tmp_path), expected)


@pytest.mark.parametrize("args", [["--set", f"energy={LONG}"], ["--workload", LONG],
                                  ["--hw", LONG], ["--dataflow", LONG], ["--json", LONG]])
def test_a_name_too_long_for_the_system_is_one_error_line(cli, tmp_path, args):
    """A 5,000-character file name (the system refuses names that long) is "no such file" for
    an input and "cannot write" for an output: one error line, no OSError traceback."""
    _one_error(cli("run", *args, cwd=tmp_path), "x" * 50)
    assert not list(tmp_path.iterdir())


def test_a_model_option_without_a_value_names_model_option(cli, tmp_path):
    """`capture --model-option width` (no '=') blames --model-option, not --set."""
    _one_error(cli("capture", "resnet18-cifar", "--method", "bdwp", "--batch", "1",
                   "--model-option", "width", "--out", str(tmp_path / "t.jsonl")),
               "error: --model-option: expected KEY=VALUE, got 'width'")


@pytest.mark.parametrize(("command", "option", "wanted"), [
    ("run", "--workload", "a shipped name or a file"),
    ("run", "--hw", "a shipped name or a file"),
    ("schedule", "--dataflow", "a shipped name or a file"),
    ("compare", "--hw", "a shipped name or a file"),
    ("run", "--schedule", "a schedule file"),
    ("run", "--json", "a file name"),
    ("run", "--timeline", "a file name")])
def test_an_empty_name_names_the_option(cli, command, option, wanted):
    """`--workload ''` (and --hw, --dataflow, --schedule, the outputs, in every command taking
    them) is an error that names the option: the empty name itself shows nothing."""
    args = ["--out", "s.yaml"] if command == "schedule" else []
    _one_error(cli(command, option, "", *args), f"error: {option}: empty: expected {wanted}")


@pytest.mark.parametrize(("argv", "named"), [
    (["sweep", "", "--out", "o"], "SPEC"), (["validate", ""], "TRACE"),
    (["plot", "pareto", "", "--x", "a", "--y", "b", "--out", "p.png"], "INPUT"),
    (["report", "", "--out", "r"], "RESULT"), (["report", "r.json", "--out", " "], "--out")])
def test_an_empty_argument_names_it(cli, argv, named, tmp_path):
    """An empty positional input (a sweep spec, a trace, a plot's input, a report's result) or
    output folder is an error naming that argument, and nothing is written."""
    _one_error(cli(*argv, cwd=tmp_path), f"error: {named}: empty: expected")
    assert not list(tmp_path.iterdir())
