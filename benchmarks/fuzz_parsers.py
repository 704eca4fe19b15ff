"""Fuzz satsim's input parsers for a long time and list every distinct escape found.

    python benchmarks/fuzz_parsers.py --examples 10000
        [--parser trace|hw|dataflow|csv|set|schedule|sweep|all] [--seed N] [--show 3]

Runs the fixed hard inputs and the strategies of ``tests/fuzzing.py`` (``tests/test_fuzz.py``
runs a few hundred examples of each) in-process through ``satsim.cli.main``, generation only
(no shrinking, no example database): traces, hardware and dataflow YAML, CSV workloads and
``--set`` lists through ``satsim run``, schedule files through ``satsim run --schedule``, sweep
specs through ``satsim sweep``. Prints per parser the examples run, clean exit 0, exit 1 (a
sweep whose every point failed), clean exit 2 and escapes (the contract: must be 0), then up
to ``--show`` reproducers per escape kind, the shortest input seen for each distinct escape,
with the last lines of its traceback. Exit status 1 if any escape was found.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("SATSIM_CACHE_DIR", "off")  # every run searches; nothing left in ~/.cache
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fuzzing import (  # noqa: E402
    CLEAN,
    EDGE_CASES,
    ERROR,
    FAILED,
    OK,
    STRATEGIES,
    Case,
    Outcome,
    run_case,
)
from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402


@dataclass
class Tally:
    """Counts by outcome kind, and the smallest reproducer of each distinct escape."""

    kinds: Counter[str] = field(default_factory=Counter)
    escapes: dict[tuple[str, ...], tuple[Case, Outcome, int]] = field(default_factory=dict)

    @property
    def examples(self) -> int:
        return sum(self.kinds.values())

    @property
    def escaped(self) -> int:
        return self.examples - sum(self.kinds[kind] for kind in CLEAN)

    def add(self, case: Case, outcome: Outcome) -> None:
        self.kinds[outcome.kind] += 1
        if outcome.escaped:
            key = outcome.signature()
            seen = self.escapes.get(key)
            if seen is None or case.size < seen[0].size:
                outcome.exc = None  # keep no tracebacks (and their frames) alive
                self.escapes[key] = (case, outcome, (seen[2] if seen else 0) + 1)
            else:
                self.escapes[key] = (*seen[:2], seen[2] + 1)


def fuzz(parser: str, examples: int, seed_value: int, workdir: Path, every: float) -> Tally:
    tally = Tally()
    for _, case in EDGE_CASES[parser]:  # the fixed hard inputs first, as the test runs them
        tally.add(case, run_case(case, workdir))
    start = last = time.monotonic()

    @seed(seed_value)
    @settings(max_examples=examples, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(STRATEGIES[parser])
    def one(case: Case) -> None:
        nonlocal last
        tally.add(case, run_case(case, workdir))
        now = time.monotonic()
        if now - last >= every:
            last = now
            print(f"  {parser}: {tally.examples}/{examples} examples, {tally.escaped} escapes, "
                  f"{len(tally.escapes)} distinct, {now - start:.0f} s", file=sys.stderr,
                  flush=True)

    one()
    return tally


def report(parser: str, tally: Tally, seconds: float, show: int) -> None:
    escapes = ", ".join(f"{k} {n}" for k, n in tally.kinds.most_common() if k not in CLEAN)
    print(f"{parser:<8} examples {tally.examples:>6} ({len(EDGE_CASES[parser]):>2} fixed)   "
          f"exit 0 {tally.kinds[OK]:>6}   exit 1 {tally.kinds[FAILED]:>5}   "
          f"exit 2 {tally.kinds[ERROR]:>6}   escapes {tally.escaped:>5}"
          + (f" ({escapes})" if escapes else "") + f"   [{seconds:.0f} s]")
    shown: Counter[str] = Counter()
    for key, (case, outcome, count) in sorted(tally.escapes.items(), key=lambda kv: -kv[1][2]):
        if shown[outcome.kind] >= show:
            continue
        shown[outcome.kind] += 1
        print(f"  - {outcome.kind} x{count}: {' | '.join(key[1:])}")
        for line in (case.show(160) + "\n" + outcome.detail).splitlines():
            print(f"      {line}")
    hidden = len(tally.escapes) - sum(shown.values())
    if hidden:
        print(f"  ({hidden} more distinct escapes not shown; raise --show)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=10_000, help="examples per parser")
    parser.add_argument("--parser", choices=[*STRATEGIES, "all"], default="all")
    parser.add_argument("--seed", type=int, default=0, help="hypothesis seed (default 0)")
    parser.add_argument("--show", type=int, default=3,
                        help="reproducers shown per escape kind and parser (default 3)")
    parser.add_argument("--progress", type=float, default=30.0,
                        help="seconds between progress lines on stderr (default 30)")
    args = parser.parse_args()
    names = list(STRATEGIES) if args.parser == "all" else [args.parser]
    escaped = 0
    with tempfile.TemporaryDirectory(prefix="satsim-fuzz-") as tmp:
        for name in names:
            start = time.monotonic()
            tally = fuzz(name, args.examples, args.seed, Path(tmp), args.progress)
            report(name, tally, time.monotonic() - start, args.show)
            escaped += tally.escaped
            sys.stdout.flush()
    return 1 if escaped else 0


if __name__ == "__main__":
    sys.exit(main())
