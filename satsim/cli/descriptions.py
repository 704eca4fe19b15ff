"""What each command's ``--help`` says above and below its options: the commands'
descriptions and the examples of ``satsim --help``."""

RUN_HELP = """\
Simulate one training iteration of a workload on a hardware preset under a dataflow policy:
the GEMMs on the PE array, mask generation on the SORE, vector work and weight updates on the
vector unit, and the DRAM transfers between them and the on-chip buffers. Prints cycles and
time per phase and per unit, what each waited for, DRAM traffic, the iteration with and
without the memory system, and the speedup over dense training.

With no arguments: one iteration of ResNet-18 on CIFAR-sized inputs, as BDWP 2:8 sparse
training, on the SAT preset (32x32 array, 200 MHz, four DDR4-2400 channels, 2.4 MiB of
buffers) with SAT's dataflow. --set memory=ideal keeps every operand on chip.

The offline scheduler's search is cached by content in $SATSIM_CACHE_DIR, else
$XDG_CACHE_HOME/satsim, else ~/.cache/satsim (SATSIM_CACHE_DIR=off or --no-cache: no cache;
a folder that cannot be written only costs the search again).
"""

SCHEDULE_HELP = """\
Search the schedule of one run (the options are satsim run's) and write it to a readable,
editable YAML file: the records' issue order (and every candidate order's cycles), each
GEMM's stationarity and, per part, its tile size [mt, kt, nt] and loop order, each streamed
op's chunk size. satsim run --schedule FILE reuses it without searching, with the same
cycles; a valid hand edit changes the run as it says. The file names the SHA-256 of the
workload, hardware and dataflow it was made for, and is rejected for any other run.
Schedules are also cached by content in $SATSIM_CACHE_DIR, else $XDG_CACHE_HOME/satsim,
else ~/.cache/satsim (SATSIM_CACHE_DIR=off or --no-cache: no cache; a folder that cannot be
written only costs the search again).
"""

EPILOG = """\
examples:
  satsim run
  satsim run --method srste --sparsity 2:4
  satsim run --hw my_accel.yaml --dataflow naive --set array.rows=16 --json out.json
  satsim run --workload layers.csv          (SCALE-Sim topology or name,M,K,N CSV)
  satsim run --timeline run.json            (open in https://ui.perfetto.dev)
  satsim schedule --out s.yaml && satsim run --schedule s.yaml
  satsim run --table ops.parquet            (one row per op: cycles, bytes, joules)
  satsim compare --nm 2:8                   (the SAT paper's headline: five models)
  satsim validate resnet18-cifar-bdwp-dump --set numerics.operand=bf16
  satsim list
  satsim plot breakdown out.json --out breakdown.pdf   (also: energy, utilization, roofline)
  satsim report out.json --out report/      (report/index.html: figures, tables, scope)
"""


SWEEP_HELP = """\
Run every design point of a sweep spec (axes over config paths, sparsity, method, workload)
and store one row per point in Parquet shards under --out. Runs on this machine's cores, or on
Dask. A value a config field rejects is an error before anything runs; points whose values
clash are recorded as failed with their reason (exit 1 if every point failed). A killed sweep
continues with --resume and loses nothing. Results: satsim.sweep.load_results(DIR) (a pandas
frame), or any Parquet reader on DIR.
"""

COMPARE_HELP = """\
For every model, simulate one training iteration densely, with SR-STE and with BDWP at one
N:M, on the same hardware and dataflow, and print the speedups over dense training next to
each method's uniform bound and the MAC-proportional ideal of its trace, and their means.
Shipped captures are used where they were captured at that N:M; otherwise the model's dense
capture is re-annotated (which gives a capture's numbers exactly). The runs are shared by
--workers processes; the table does not depend on how many.
"""

CAPTURE_HELP = """\
Train a zoo model (or a LLaMA-family model from --model-config) for a few real optimizer
steps with an N:M training method and record the last step's GEMMs (FF, BP, WG), vector work,
weight updates and mask generation as a trace. The N:M structure of each weight operand is
measured, not assumed (--shapes-only: no values, the configured N:M; full-size LLMs in
seconds). Needs the torch extra.
"""


VALIDATE_HELP = """\
Recompute every dumped layer of a captured step (satsim capture --dump-tensors) on the
modelled datapath: FF, BP and WG in the mapping the scheduler chooses (stationarity, N:M
compressed weights selected through their indices, the K slices of the schedule), in the
hardware's number formats; the masks on the SORE and the weight update on the WUVE where the
dump has them. Each GEMM result is compared three ways: datapath vs the exact result (the
same operands summed exactly, rounded once), PyTorch vs exact, and datapath vs PyTorch; each
row gives the largest error, its ratio to the K-scaled bound 2·K·u·(|A|@|B|) (+ one ulp of a
rounded output) and the share of bit-identical elements, with a note where PyTorch itself is
over the bound. Exit status: 0 all pass, 1 some check fails, 2 bad input.
"""


PLOT_HELP = """\
Plot a result as a paper-sized figure (.png, .svg or .pdf, chosen by the suffix of --out):
  speedup      speedup over dense per model and method, with the uniform bound and the
               MAC-proportional ideal (INPUT: satsim compare --json)
  breakdown    each unit's busy cycles stacked by phase, against the iteration (satsim run
               --json)
  energy       energy per phase stacked by unit; unpriced units n/a (satsim run --json)
  utilization  each unit's busy share, and the array's MAC utilization per layer and phase
               (satsim run --json)
  roofline     per GEMM: MACs per DRAM byte against achieved MAC rate, under the array's
               peak and the DRAM bandwidth (satsim run --json)
  pareto       a sweep's Pareto front of --x and --y (INPUT: satsim sweep --out folder)
"""

REPORT_HELP = """\
Write DIR/index.html: one self-contained page of a run (satsim run --json) with its figures
embedded, the tables per phase, unit, buffer and energy, what was modelled and what was not,
and the provenance. No external files or scripts: it opens from disk in any browser. Given a
satsim compare --json file, the page shows the speedups instead.
"""
