"""Record SCALE-Sim 3.0.0's per-layer compute cycles: the fixture of satsim's parity test.

    python benchmarks/scalesim_parity.py [--scalesim-python PATH] [--out PATH] [--skip-slow]

SCALE-Sim runs in its own interpreter (a subprocess; it is never imported here), by default
``/work/venvs/scalesim/bin/python``, made with::

    python3 -m venv /work/venvs/scalesim
    /work/venvs/scalesim/bin/pip install "scalesim==3.0.0" "numpy<2.4"

Every case is one SCALE-Sim run (its Python API, as ``scalesim/scale.py`` drives it, traces
not saved) of a topology on an array, a dataflow and a config derived from SCALE-Sim's own
``configs/scale.cfg``. The cases cover GEMM and conv rows, edge tiles, K < R, tiny and
rectangular arrays, WS/OS/IS, dense and layer-wise N:M (K divisible by M or not), depthwise
rows, the sparsity column with sparsity support off, memory stalls, and shipped topology files
end to end. The script also records how SCALE-Sim's topology reader maps every shipped topology
file to GEMMs (``shipped_dims``). It writes ``tests/data/scalesim/parity.json``, prints a table
and the median wall times. ``tests/test_scalesim_parity.py`` checks satsim's closed forms
(``satsim/timing/scalesim.py``) against the file; it does not need SCALE-Sim.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data" / "scalesim"
TOPOLOGIES = DATA / "topologies"
DEFAULT_PYTHON = "/work/venvs/scalesim/bin/python"
SCALESIM_VERSION = "3.0.0"
# The scale-sim-v3 commit whose scalesim/ package is the 3.0.0 wheel's (and whose
# topologies/ are in tests/data/scalesim/topologies).
SCALESIM_COMMIT = "fab89b777d7363550b7560ff615a11f888db46b9"

# SCALE-Sim's configs/scale.cfg with the knobs a case varies as {fields}.
CONFIG = """\
[general]
run_name = parity

[architecture_presets]
ArrayHeight:    {rows}
ArrayWidth:     {cols}
IfmapSramSzkB:   {sram_kb}
FilterSramSzkB:  {sram_kb}
OfmapSramSzkB:   {sram_kb}
IfmapOffset:    0
FilterOffset:   10000000
OfmapOffset:    20000000
Bandwidth : {bandwidth}
Dataflow : {dataflow}
MemoryBanks:   1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {bandwidth}
IfmapSRAMBankNum: {banks}
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {bandwidth}
FilterSRAMBankNum: {banks}
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : {sparsity}
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {interface}
UseRamulatorTrace: False
"""
# scale.cfg's memory (64 kB SRAMs, bandwidth estimated: no stalls), and a starved one.
MEMORY = {
    "calc": {"sram_kb": 64, "bandwidth": 10, "banks": 10, "interface": "CALC"},
    "user-4kB-4w": {"sram_kb": 4, "bandwidth": 4, "banks": 1, "interface": "USER"},
}

ARRAYS = [(4, 4), (8, 8), (8, 32), (32, 8), (16, 16), (32, 32), (3, 5)]
DATAFLOWS = ["ws", "os", "is"]
GEMM_HEADER = "Layer, M, N, K, Sparsity,"
CONV_HEADER = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
               "Num Filter, Strides, Sparsity,")
# SCALE-Sim GEMM rows: name, M, N, K (K = reduction).
GEMM_DENSE = [
    ("edge", 20, 10, 13), ("tiny", 3, 5, 16), ("m1", 1, 5, 16), ("square32", 32, 32, 32),
    ("k3", 33, 17, 3), ("n1", 40, 1, 20), ("rect", 45, 30, 70), ("k1", 9, 7, 1),
]
GEMM_SPARSE = [
    ("s2_4", 20, 10, 13, "2:4"), ("s1_2", 16, 12, 30, "1:2"), ("s1_4", 9, 20, 37, "1:4"),
    ("s2_8", 30, 8, 50, "2:8"), ("s1_8", 12, 12, 61, "1:8"), ("s3_7", 25, 9, 22, "3:7"),
    ("s3_4", 3, 5, 16, "3:4"), ("k_lt_m", 10, 10, 7, "2:8"), ("rem_lt_n", 6, 6, 17, "3:8"),
    ("s1_1", 8, 8, 8, "1:1"),
]
# Conv rows: name, IFMAP H, W, filter H, W, channels, filters, stride, sparsity. Partial
# windows (stride not tiling IFMAP - filter), 1x1, filter = IFMAP, depthwise ("DP").
CONV = [
    ("valid", 8, 8, 3, 3, 4, 6, 1, "1:1"), ("partial", 10, 9, 3, 3, 2, 5, 2, "1:1"),
    ("stride3", 11, 7, 3, 2, 3, 4, 3, "1:1"), ("pw", 6, 6, 1, 1, 16, 8, 1, "1:1"),
    ("rectf", 9, 12, 2, 5, 3, 7, 1, "1:1"), ("whole", 5, 5, 5, 5, 3, 4, 1, "1:1"),
    ("DPdw", 7, 7, 3, 3, 3, 2, 2, "1:1"), ("sp2_4", 8, 8, 3, 3, 5, 6, 1, "2:4"),
    ("sp3_7", 6, 6, 3, 3, 3, 4, 1, "3:7"), ("DPsp", 6, 6, 3, 3, 2, 3, 1, "2:4"),
]
# Operands far beyond 4 kB SRAMs fed at 4 words/cycle: SCALE-Sim stalls.
STALL = [("st_a", 200, 40, 130, "1:1"), ("st_b", 96, 24, 300, "1:1")]


def _gemm_text(rows: list[tuple]) -> str:
    body = "".join(f"{r[0]}, {r[1]}, {r[2]}, {r[3]}, {r[4] if len(r) > 4 else '1:1'},\n"
                   for r in rows)
    return f"{GEMM_HEADER}\n{body}"


def _conv_text(rows: list[tuple]) -> str:
    return CONV_HEADER + "\n" + "".join(", ".join(map(str, r)) + ",\n" for r in rows)


def _case(group: str, kind: str, array: tuple[int, int], dataflow: str, *, text: str = "",
          file: str = "", sparsity: bool = False, memory: str = "calc") -> dict[str, Any]:
    topology = {"kind": kind, "file": file} if file else {"kind": kind, "text": text}
    name = f"{group}/{array[0]}x{array[1]}/{dataflow}"
    return {"id": name, "topology": topology, "array": list(array), "dataflow": dataflow,
            "sparsity_support": sparsity, "memory": memory}


def cases(skip_slow: bool) -> list[dict[str, Any]]:
    """Every SCALE-Sim run of the fixture (see the module doc)."""
    out = []
    for array in ARRAYS:
        for df in DATAFLOWS:
            out.append(_case("gemm-dense", "gemm", array, df, text=_gemm_text(GEMM_DENSE)))
    for array in [(4, 4), (8, 8), (8, 32), (32, 8), (3, 5)]:
        for df in DATAFLOWS:
            out.append(_case("gemm-nm", "gemm", array, df, text=_gemm_text(GEMM_SPARSE),
                             sparsity=True))
    for df in DATAFLOWS:  # the Sparsity column with SparsitySupport off
        out.append(_case("gemm-nm-ignored", "gemm", (8, 8), df, text=_gemm_text(GEMM_SPARSE)))
    for array in [(4, 4), (3, 5), (16, 16), (8, 32)]:
        for df in DATAFLOWS:
            out.append(_case("conv", "conv", array, df, text=_conv_text(CONV), sparsity=True))
    for df in DATAFLOWS:
        out.append(_case("conv-nm-ignored", "conv", (8, 8), df, text=_conv_text(CONV)))
        out.append(_case("stalls", "gemm", (8, 8), df, text=_gemm_text(STALL),
                         memory="user-4kB-4w"))
    out.append(_case("shipped:sparsity/conv.csv", "conv", (4, 4), "ws",
                     file="sparsity/conv.csv", sparsity=True))
    for df in DATAFLOWS:
        out.append(_case("shipped:sparsity/gemm.csv", "gemm", (8, 8), df,
                         file="sparsity/gemm.csv", sparsity=True))
    out.append(_case("shipped:conv_nets/test.csv", "conv", (16, 16), "os",
                     file="conv_nets/test.csv"))
    out.append(_case("shipped:dlrm/dlrm_fwd.csv", "conv", (32, 32), "ws", file="dlrm/dlrm_fwd.csv"))
    if not skip_slow:
        out.append(_case("shipped:conv_nets/Resnet18.csv", "conv", (32, 32), "ws",
                         file="conv_nets/Resnet18.csv"))
    return out


# Runs inside SCALE-Sim's interpreter: argv[1] is the job (JSON), argv[2] the result file.
DRIVER = r'''
import contextlib, io, json, os, sys, tempfile, time, traceback
from scalesim.scale_sim import scalesim
from scalesim.topology_utils import topologies

def run(case, d):
    topo = case["topology"].get("path") or os.path.join(d, "topology.csv")
    if "text" in case["topology"]:
        with open(topo, "w") as f:
            f.write(case["topology"]["text"])
    with open(os.path.join(d, "layout.csv"), "w") as f:
        f.write("Layer name,\n")  # read but unused without a custom layout
    with open(os.path.join(d, "scale.cfg"), "w") as f:
        f.write(case["config"])
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False,
                       config=os.path.join(d, "scale.cfg"), topology=topo,
                       layout=os.path.join(d, "layout.csv"),
                       input_type_gemm=case["topology"]["kind"] == "gemm")
        sim.run_scale(top_path=d)
    wall = time.perf_counter() - start
    names = sim.topo.get_layer_names()
    with open(os.path.join(d, "parity", "COMPUTE_REPORT.csv")) as f:
        lines = [l.split(",") for l in f.read().splitlines()[1:] if l.strip()]
    layers = [{"name": names[int(c[0])], "total_cycles": int(c[2]), "stall_cycles": int(c[3]),
               "overall_util_pct": round(float(c[4]), 6)} for c in lines]
    print(f"  {case['id']}: {len(layers)} layers, {wall:.2f} s", file=sys.stderr, flush=True)
    return {"id": case["id"], "layers": layers, "wall_s": round(wall, 4)}

job = json.load(open(sys.argv[1]))
results = {"cases": [], "shipped_dims": {}}
for case in job["cases"]:
    with tempfile.TemporaryDirectory(prefix="scalesim-parity-") as d:
        try:
            results["cases"].append(run(case, d))
        except Exception:
            results["cases"].append({"id": case["id"], "error": traceback.format_exc()})
for rel, (path, gemm) in job["shipped"].items():
    topo = topologies()
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            topo.load_arrays(path, mnk_inputs=gemm)
            topo.topo_calc_hyperparams()
        dims = []
        for i in range(topo.get_num_layers()):
            n = topo.get_layer_num_filters(i)
            ratio = ":".join(str(x) for x in topo.get_layer_sparsity_ratio(i))
            dims.append([topo.get_layer_num_ofmap_px(i) // n, topo.get_layer_window_size(i), n,
                         ratio])
        results["shipped_dims"][rel] = {"layers": dims}
    except Exception as exc:
        results["shipped_dims"][rel] = {"error": f"{type(exc).__name__}: {exc}"}
json.dump(results, open(sys.argv[2], "w"))
'''


def _scalesim_version(python: str) -> str:
    code = "import importlib.metadata as m, scalesim; print(m.version('scalesim'))"
    try:
        done = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    except OSError as exc:
        sys.exit(f"error: cannot run SCALE-Sim's Python {python!r} ({exc.strerror}). Create it:\n"
                 "  python3 -m venv /work/venvs/scalesim && /work/venvs/scalesim/bin/pip "
                 "install 'scalesim==3.0.0' 'numpy<2.4'\nor pass --scalesim-python.")
    if done.returncode:
        sys.exit(f"error: {python} cannot import scalesim:\n{done.stderr.strip()}")
    return done.stdout.strip()


def _config(case: dict[str, Any]) -> str:
    rows, cols = case["array"]
    return CONFIG.format(rows=rows, cols=cols, dataflow=case["dataflow"],
                         sparsity=str(case["sparsity_support"]).lower(),
                         **MEMORY[case["memory"]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scalesim-python", default=DEFAULT_PYTHON,
                        help=f"interpreter with scalesim {SCALESIM_VERSION} (default: %(default)s)")
    parser.add_argument("--out", type=Path, default=DATA / "parity.json")
    parser.add_argument("--skip-slow", action="store_true",
                        help="leave out the shipped ResNet-18 (several minutes)")
    args = parser.parse_args(argv)

    version = _scalesim_version(args.scalesim_python)
    if version != SCALESIM_VERSION:
        sys.exit(f"error: {args.scalesim_python} has scalesim {version}, need {SCALESIM_VERSION}")
    todo = cases(args.skip_slow)
    for case in todo:
        case["config"] = _config(case)
        if case["topology"].get("file"):
            case["topology"]["path"] = str(TOPOLOGIES / case["topology"]["file"])
    shipped = {}
    for path in sorted(TOPOLOGIES.rglob("*.csv")):
        first = path.read_bytes().decode("utf-8-sig").split("\n", 1)[0].lower()
        cells = [c.replace("\xa0", " ").strip() for c in first.split(",")]
        gemm = cells[1:4] == ["m", "n", "k"]  # SCALE-Sim's -i gemm, as its README runs them
        shipped[path.relative_to(TOPOLOGIES).as_posix()] = (str(path), gemm)

    print(f"SCALE-Sim {version}: {len(todo)} runs, {len(shipped)} shipped topologies",
          file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp:
        job, result = Path(tmp) / "job.json", Path(tmp) / "result.json"
        job.write_text(json.dumps({"cases": todo, "shipped": shipped}))
        done = subprocess.run([args.scalesim_python, "-c", DRIVER, str(job), str(result)])
        if done.returncode:
            sys.exit(f"error: the SCALE-Sim driver failed (exit {done.returncode})")
        results = json.loads(result.read_text())

    failed = [r for r in results["cases"] if "error" in r]
    if failed:
        sys.exit("error: SCALE-Sim failed on " + ", ".join(r["id"] for r in failed) + "\n"
                 + failed[0]["error"])
    by_id = {r["id"]: r for r in results["cases"]}
    fixture_cases = []
    for case in todo:
        got = by_id[case["id"]]
        topology = {k: v for k, v in case["topology"].items() if k != "path"}
        layers = [{"name": x["name"], "compute_cycles": x["total_cycles"] - x["stall_cycles"], **x}
                  for x in got["layers"]]
        fixture_cases.append({"id": case["id"], "topology": topology, "array": case["array"],
                              "dataflow": case["dataflow"],
                              "sparsity_support": case["sparsity_support"],
                              "memory": case["memory"], "wall_s": got["wall_s"],
                              "layers": layers})
    fixture = {
        "generator": "benchmarks/scalesim_parity.py",
        "scalesim": {"version": version, "commit": SCALESIM_COMMIT,
                     "source": "https://github.com/scalesim-project/scale-sim-v3"},
        "compute_cycles": "COMPUTE_REPORT.csv 'Total Cycles' - 'Stall Cycles'",
        "config": CONFIG, "memory": MEMORY, "cases": fixture_cases,
        "shipped_dims": results["shipped_dims"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(fixture, indent=None, separators=(",", ":")) + "\n")

    print(f"{'case':44} {'layers':>6} {'compute cycles':>15} {'stalls':>8} {'wall s':>8}")
    for case in fixture_cases:
        total = sum(x["compute_cycles"] for x in case["layers"])
        stalls = sum(x["stall_cycles"] for x in case["layers"])
        print(f"{case['id']:44} {len(case['layers']):6} {total:15} {stalls:8} "
              f"{case['wall_s']:8.2f}")
    walls = [c["wall_s"] for c in fixture_cases]
    per_layer = [c["wall_s"] / len(c["layers"]) for c in fixture_cases]
    layers = sum(len(c["layers"]) for c in fixture_cases)
    print(f"{len(fixture_cases)} runs, {layers} layers; median wall time per run "
          f"{statistics.median(walls):.3f} s, per layer {statistics.median(per_layer):.3f} s")
    readable = sum("layers" in v for v in results["shipped_dims"].values())
    print(f"shipped topologies SCALE-Sim reads: {readable} of {len(shipped)}")
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} kB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
