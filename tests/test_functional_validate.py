"""``satsim validate``: the modelled datapath against the PyTorch tensors of captured steps."""

import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from satsim.api import validate
from satsim.errors import SatsimError

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "workloads" / "resnet18-cifar-bdwp-dump.jsonl"
BF16 = ["numerics.operand=bf16"]


def _copy(tmp_path: Path, edit=None, name: str = "t") -> Path:
    """The shipped dump trace copied to ``tmp_path``, its arrays passed through ``edit``."""
    trace = tmp_path / f"{name}.jsonl"
    shutil.copy(SHIPPED, trace)
    with np.load(SHIPPED.with_suffix(".npz")) as z:
        arrays = {k: z[k] for k in z.files}
    if edit is not None:
        edit(arrays)
    np.savez_compressed(trace.with_suffix(".npz"), **arrays)
    return trace


def _digests(result) -> dict:
    return {(c.layer, c.phase, c.tensor): c.digest for c in result.checks}


def test_shipped_dump_passes_every_check():
    """Every FF, BP and WG tensor of the shipped bf16 dump is within the K-scaled bound, the
    SORE's masks equal the captured ones and the WUVE's update is bit-exact."""
    result = validate(SHIPPED, "sat", overrides=BF16)
    assert result.passed
    phases = {(c.layer, c.phase) for c in result.checks}
    for layer in ("layer1.0.conv1", "layer2.0.conv1", "fc"):
        assert {(layer, p) for p in ("FF", "BP", "WG", "WU")} <= phases
    assert {(layer, "MASK") for layer in ("layer1.0.conv1", "layer2.0.conv1")} <= phases
    exact = [c for c in result.checks if c.bound_ratio is None]
    assert exact and all(c.identical == 1.0 for c in exact)
    assert all(c.bound_ratio <= 1 for c in result.checks if c.bound_ratio is not None)


def test_other_precision_compares_with_torch_on_hardware_operands():
    """The sat preset's fp16 operands differ from the bf16 capture: validate says so and
    compares with torch's result on the fp16 operands."""
    pytest.importorskip("torch")
    result = validate(SHIPPED, "sat")
    assert any("differ from the capture's bf16" in n for n in result.notes)
    assert result.passed


def test_tampered_result_fails(tmp_path, cli):
    """One changed element of a dumped result makes ``satsim validate`` exit 1."""
    def edit(arrays):
        y = arrays["layer1.0.conv1/FF/y"].copy()
        y.flat[123] ^= 0x0400  # flip an exponent bit of one bf16 element
        arrays["layer1.0.conv1/FF/y"] = y

    trace = _copy(tmp_path, edit)
    done = cli("validate", str(trace), "--set", "numerics.operand=bf16")
    assert done.returncode == 1, done.stderr
    failed = [line for line in done.stdout.splitlines() if "FAIL" in line]
    assert failed[0].split()[:3] == ["layer1.0.conv1", "FF", "y"]


@pytest.mark.parametrize("edit, message", [
    (lambda a: a.pop("layer2.0.conv1/WG/x"), "layer2.0.conv1/WG/x: missing tensor"),
    (lambda a: a["layer1.0.conv1/FF/x"].__setitem__((0, 0, 0, 0), 0x7F80),  # bf16 +inf
     "layer1.0.conv1/FF/x: 1 NaN/inf operand elements: the sparse datapath never multiplies"),
    (lambda a: a.__setitem__("layer1.0.conv1/mask_FF", np.full_like(
        a["layer1.0.conv1/mask_FF"], 0xFF)), "the mask is not 2:8"),
    (lambda a: a.__setitem__("layer1.0.conv1/FF/w", a["layer1.0.conv1/WU/w"].astype(
        np.float32).view(np.uint32).__rshift__(16).astype(np.uint16)),
     "a dense operand given to a 2:8 sparse mapping"),
])
def test_bad_dump_is_a_clear_error(tmp_path, edit, message):
    """A missing tensor, NaN/inf in an operand, a mask that is not N:M and a dense weight on
    a sparse mapping each raise one SatsimError naming the file and the tensor."""
    trace = _copy(tmp_path, edit)
    with pytest.raises(SatsimError) as info:
        validate(trace, "sat", overrides=BF16)
    assert message in str(info.value)
    assert str(trace.with_suffix(".npz")) in str(info.value)


def test_bad_input_exits_2(tmp_path, cli):
    """No dump next to the trace: one ``error:`` line naming the file, exit 2."""
    trace = tmp_path / "t.jsonl"
    shutil.copy(SHIPPED, trace)
    done = cli("validate", str(trace))
    assert done.returncode == 2
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1
    assert "t.npz" in done.stderr and "Traceback" not in done.stderr


def test_same_bits_on_any_executor_and_thread_count():
    """In-process, in a worker process, and in a subprocess with other thread counts: the
    modelled tensors have the same bits (digests)."""
    here = _digests(validate(SHIPPED, "sat", overrides=BF16))
    with ProcessPoolExecutor(1) as pool:
        there = _digests(pool.submit(validate, SHIPPED, "sat", overrides=BF16).result())
    env = {**os.environ, "OMP_NUM_THREADS": "2", "NUMBA_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-m", "satsim", "validate", str(SHIPPED), "--set",
                           "numerics.operand=bf16", "--json", "-"], capture_output=True,
                          text=True, env=env, timeout=300)
    other = {(c["layer"], c["phase"], c["tensor"]): c["digest"]
             for c in json.loads(done.stdout)["checks"]}
    assert here == there == other


def test_fresh_captures(tmp_path):
    """Fresh bf16 and fp16 captures of three resnet18-cifar layers (a stride-1 conv, a
    stride-2 conv whose BP is decomposed, a 1x1 downsample): every bf16 FF/BP/WG element is
    within the K-scaled bound; in fp16 the forward is, and the masks and updates are exact in
    both. (torch's CPU fallback sums fp16 conv gradients in fp16: validate says so.)"""
    pytest.importorskip("torch")
    from satsim.capture.capture import CaptureSpec, capture
    from satsim.trace import write_trace
    from satsim.types import NMPattern

    layers = ("layer1.1.conv2", "layer3.0.conv1", "layer3.0.downsample.0")
    for precision in ("bf16", "fp16"):
        out = tmp_path / f"{precision}.jsonl"
        spec = CaptureSpec(model="resnet18-cifar", method="bdwp", nm=NMPattern(2, 8), batch=1,
                           steps=2, precision=precision)
        write_trace(capture(spec, dump_layers=layers, dump_path=out.with_suffix(".npz")), out)
        result = validate(out, "sat", overrides=[f"numerics.operand={precision}"])
        gemms = [c for c in result.checks if c.phase in ("FF", "BP", "WG")]
        assert len(gemms) == 9
        exact = [c for c in result.checks if c.phase in ("MASK", "WU")]
        assert len(exact) == 3 * 4 + 3 * 2 and all(c.passed for c in exact)
        if precision == "bf16":
            assert result.passed
        else:
            assert all(c.passed for c in gemms if c.phase == "FF")
            assert any("sums fp16 conv data and weight gradients in fp16" in n
                       for n in result.notes)


def test_json_has_no_infinity():
    """An error where the bound is zero (ratio inf) is written as the string "inf": the JSON
    stays valid."""
    from satsim.functional.validate import Check, Validation

    result = Validation("t", "sat", "bf16", "bf16", "fp32")
    result.checks.append(Check("l", "FF", "y", "os dense", 1, 1.0, float("inf"), 0.0, False))
    assert json.loads(result.json_text())["checks"][0]["bound_ratio"] == "inf"
