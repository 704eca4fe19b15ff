"""Energy: the simulator counts actions, a table prices them, static power leaks over the
iteration; the sums are exact, unpriced terms are n/a (never 0), bad tables are one error."""

import json
import math
from dataclasses import replace
from fractions import Fraction
from typing import ClassVar, Literal

import pandas as pd
import pytest
from pydantic import PositiveInt

from satsim.api import run
from satsim.config import load_hardware
from satsim.config.units import KINDS, Action, Component, Price, _Unit
from satsim.energy import load_energy_table, price_run
from satsim.energy.breakdown import STATIC, coverage
from satsim.energy.price import exact
from satsim.energy.table import EnergyTable, components, shipped_tables
from satsim.errors import SatsimError
from satsim.report.summary import joules
from satsim.report.tidy import ENERGY_COLUMNS, tidy_frame

PJ, MJ = Fraction(1, 10**12), Fraction(1, 10**3)

# Dyadic prices (exact in binary too), every term distinct, so a term priced twice or
# forgotten changes the total.
TINY_TABLE = """\
name: tiny
description: hand-made prices for a hand-computed case
systolic:
  mac: {fp16/fp32: {pj: 2.0, source: test}}
  mac_gated: {pj: 0.5, source: test}
  mux_select: {pj: 0.25, source: test}
  index_read: {pj: 0.125, source: test}
  static: {mw_per_pe: 1.5, source: test}
maskgen:
  compare: {pj: 0.75, source: test}
  static: {mw_per_lane: null, source: "not modelled in this test"}
vector:
  lane_op: {pj: 4.0, source: test}
  update_lane_op: {pj: 4.0, source: test}
  static: {mw_per_lane: 2.0, source: test}
dram:
  read: {pj_per_bit: 16.0, source: test}
  write: {pj_per_bit: 24.0, source: test}
  static: {mw_per_channel: null, source: "not modelled in this test"}
sram:
  access: {pj_per_bit_by_kib: {8: 0.25, 1024: 1.0}, source: test}
  static: {mw_per_kib: null, source: "not modelled in this test"}
"""


@pytest.fixture(scope="module")
def default_report():
    """`satsim run`'s default: ResNet-18 BDWP 2:8 on the sat preset (45 nm table)."""
    return run()


def _tiny_gemm(tmp_path, table_text=TINY_TABLE):
    (tmp_path / "tiny.yaml").write_text(table_text)
    csv = tmp_path / "g.csv"
    csv.write_text("name,M,K,N,sparsity\nfc,64,512,256,2:4\n")
    return run(csv, "sat-small", "naive", overrides=[f"energy.table={tmp_path / 'tiny.yaml'}"])


def test_tiny_sparse_gemm_costs_exactly_its_priced_actions_and_leakage(tmp_path):
    """One 2:4 GEMM (64 x 512 x 256) on the 8x8 sat-small array, ideal memory, weight-
    stationary without interleaving: 64 x 256 x 256 MACs, each with one mux select and one
    index read, no gated slot; 32 x 32 folds of 64 + 8 + 8 - 1 cycles at 200 MHz, while
    64 PEs leak 1.5 mW and 8 vector lanes 2 mW; the SORE's leakage is not priced."""
    report = _tiny_gemm(tmp_path)
    res = report.result
    macs = 64 * 256 * 256
    assert res.action_totals() == {"stce": {"mac": macs, "mac_gated": 0, "mux_select": macs,
                                            "index_read": macs}}
    assert res.cycles == 32 * 32 * 79
    seconds = Fraction(res.cycles, 200 * 10**6)
    dynamic = macs * (Fraction(2) + Fraction(1, 4) + Fraction(1, 8)) * PJ
    static = (64 * Fraction(3, 2) + 8 * Fraction(2)) * seconds * MJ
    e = res.energy.exact
    assert e.total == dynamic + static
    assert e.by_unit == {"stce": dynamic + 64 * Fraction(3, 2) * seconds * MJ,
                         "sore": None, "vector": 8 * Fraction(2) * seconds * MJ}
    assert e.by_phase == {"FF": dynamic, STATIC: static}
    assert list(res.energy.excluded) == ["sore.static"]
    assert res.to_json()["energy_j"] == float(dynamic + static)


def test_a_null_price_is_excluded_never_zero(tmp_path):
    """The tiny GEMM with mux selects priced null: the term is left out of every sum (not
    added as 0), named with its source among the excluded, and its price shown as None."""
    why = "not modelled in this test"
    report = _tiny_gemm(tmp_path, TINY_TABLE.replace(
        "mux_select: {pj: 0.25, source: test}", f"mux_select: {{pj: null, source: {why}}}"))
    res = report.result
    macs = 64 * 256 * 256
    seconds = Fraction(res.cycles, 200 * 10**6)
    dynamic = macs * (Fraction(2) + Fraction(1, 8)) * PJ
    assert res.energy.exact.by_phase["FF"] == dynamic
    assert res.energy.exact.total == dynamic + (64 * Fraction(3, 2) + 16) * seconds * MJ
    assert res.energy.excluded == {"sore.static": why, "stce.mux_select": why}
    assert res.energy.prices["stce.mux_select"] is None and not res.energy.complete


class ToyUnit(_Unit):
    """A kind no code knows: one action, and static power per widget."""

    kind: Literal["toy"]
    widgets: PositiveInt

    ENERGY: ClassVar[Component] = Component(
        {"spin": Action(Price.PJ, "a widget spins once")}, static_per="widget")

    def static_count(self) -> int:
        return self.widgets


TOY_PRICES = """\
toy:
  spin: {pj: 0.375, source: test}
  static: {mw_per_widget: 0.5, source: test}
"""


def test_a_new_kind_is_priced_from_its_declaration_alone(tmp_path, monkeypatch):
    """A kind added to the registry (by this test) with one action and a static power per
    widget: a table prices it under its name with no schema code, and when the GEMMs' engine
    is of that kind, the engine's counts take its prices: 40 spins at 0.375 pJ and 3 widgets
    leaking 0.5 mW each over the tiny GEMM's run."""
    res = _tiny_gemm(tmp_path).result
    monkeypatch.setitem(KINDS, "toy", ToyUnit)
    (tmp_path / "toy.yaml").write_text(TINY_TABLE + TOY_PRICES)
    hw = load_hardware("sat-small", [("energy.table", str(tmp_path / "toy.yaml"))])
    hw = hw.model_copy(update={"units": {**hw.units,
                                         hw.routes.FF: ToyUnit(kind="toy", widgets=3)}})
    first = res.rows[0]["index"]
    e = price_run(replace(res, actions={first: {"stce": {"spin": 40}}}), hw)
    leak = 3 * Fraction(1, 2) * Fraction(res.cycles, 200 * 10**6) * MJ
    assert e.exact.by_op[first] == {"stce": 40 * Fraction(3, 8) * PJ}
    assert e.exact.static["stce"] == leak
    assert e.prices["stce.spin"] == 0.375 and e.prices["stce.static"] == 0.5


def test_a_machine_with_a_kind_its_table_leaves_out_is_an_error(tmp_path):
    """A table may leave a kind out (it prices machines without one), but a machine with a
    unit of that kind cannot use it: one error naming the table's file and the kind, which
    must price its actions or say why not (null with a source)."""
    table = TINY_TABLE[:TINY_TABLE.index("maskgen:")] + TINY_TABLE[TINY_TABLE.index("vector:"):]
    (tmp_path / "no-maskgen.yaml").write_text(table)
    assert load_energy_table(tmp_path / "no-maskgen.yaml").prices("maskgen") is None
    with pytest.raises(SatsimError) as failed:
        load_hardware("sat-small", [("energy.table", str(tmp_path / "no-maskgen.yaml"))])
    assert str(failed.value) == (
        f"{tmp_path / 'no-maskgen.yaml'}: maskgen: prices no maskgen unit, and unit sore is "
        "one: give the table a maskgen section (each action priced, or null with a source "
        "saying why)")


def test_every_breakdown_sums_exactly_to_the_total(default_report):
    """Per unit, per phase (with the static share), per layer (with the static share) and
    per op plus static: each sums to the run's energy, exactly."""
    e = default_report.result.energy.exact
    for breakdown in (e.by_unit, e.by_phase, e.by_layer):
        assert sum(v for v in breakdown.values() if v is not None) == e.total
    ops = sum(e.op_energy(r["index"]) for r in default_report.result.rows)
    assert ops + sum(v for v in e.static.values() if v is not None) == e.total
    assert set(e.by_phase) == {"FF", "BP", "WG", "MASK", "VEC", "WU", STATIC}


def test_total_is_each_counted_action_times_its_table_price_plus_static(default_report):
    """Recomputed from the run's action totals and the 45 nm table by hand: MACs at fp16/fp32,
    mux selects, index reads, SORE compares, lane ops, DRAM bits at 20.3125 pJ, buffer bits
    at the log-log price of each bank (half a double-buffered buffer), PE and lane leakage."""
    res = default_report.result
    table = load_energy_table("asic-45nm")
    hw = load_hardware("sat")
    counts = res.action_totals()
    expected = (counts["stce"]["mac"] * exact(table.systolic.mac["fp16/fp32"].pj)
                + counts["stce"]["mac_gated"] * exact(table.systolic.mac_gated.pj)
                + counts["stce"]["mux_select"] * exact(table.systolic.mux_select.pj)
                + counts["stce"]["index_read"] * exact(table.systolic.index_read.pj)
                + counts["sore"]["compare"] * exact(table.maskgen.compare.pj)
                + counts["vector"]["lane_op"] * exact(table.vector.lane_op.pj)
                + counts["vector"]["update_lane_op"] * exact(table.vector.update_lane_op.pj)
                + 8 * (counts["dram"]["read_bytes"] + counts["dram"]["write_bytes"])
                * exact(20.3125))
    for name, buffer in hw.memory.buffers.items():
        moved = counts[f"buffer:{name}"]["read_bytes"] + counts[f"buffer:{name}"]["write_bytes"]
        expected += 8 * moved * exact(table.sram.access.at(buffer.kib / 2))
    seconds = Fraction(res.cycles, 200 * 10**6)
    leak = (1024 * exact(0.0572) + 32 * exact(0.0572)) * seconds * MJ
    assert res.energy.exact.total == expected * PJ + leak
    assert set(res.energy.excluded) == {"sore.static", "dram.static",
                                        *(f"buffer:{b}.static" for b in hw.memory.buffers)}


def test_costlier_dram_never_lowers_energy(default_report):
    """DRAM energy per bit swept 0 -> 40 pJ (energy.dram_pj_per_bit): the total never drops,
    and each step adds exactly the price difference times the bits moved."""
    res = default_report.result
    bits = 8 * (res.total("dram_read_bytes") + res.total("dram_write_bytes"))
    assert bits > 0
    totals = [price_run(res, load_hardware("sat", [("energy.dram_pj_per_bit", p)])).exact.total
              for p in (0, 10, 20.3125, 40)]
    assert totals == sorted(totals)
    assert totals[3] - totals[1] == 30 * bits * PJ
    assert totals[2] == res.energy.exact.total  # the table's own price


def test_sparse_run_does_fewer_macs_and_pays_for_indices_and_muxes(default_report):
    """BDWP 2:8 against its dense twin on the same machine: fewer MACs executed; index reads
    and mux selects counted and priced only in the sparse run."""
    sparse, dense = default_report.result, default_report.dense
    s, d = sparse.action_totals()["stce"], dense.action_totals()["stce"]
    assert s["mac"] < d["mac"]
    assert s["mux_select"] == s["index_read"] > 0 == d["mux_select"] == d["index_read"]
    table = load_energy_table("asic-45nm")
    sparse_only = (s["mux_select"] * exact(table.systolic.mux_select.pj)
                   + s["index_read"] * exact(table.systolic.index_read.pj)) * PJ
    mac_j = (s["mac"] * exact(table.systolic.mac["fp16/fp32"].pj)
             + s["mac_gated"] * exact(table.systolic.mac_gated.pj)) * PJ
    sums = sparse.energy.exact
    assert sums.by_unit["stce"] == mac_j + sparse_only + sums.static["stce"]
    dense_mac_j = (d["mac"] * exact(table.systolic.mac["fp16/fp32"].pj)
                   + d["mac_gated"] * exact(table.systolic.mac_gated.pj)) * PJ
    assert dense.energy.exact.by_unit["stce"] == dense_mac_j + dense.energy.exact.static["stce"]


@pytest.fixture(scope="module")
def fpga_report():
    """The default run priced with the VCU1525 profile, which prices DRAM transfers only."""
    return run(overrides=["energy=vcu1525"])


def test_fpga_profile_shows_unpriced_terms_as_na_never_zero(fpga_report):
    """On the VCU1525 profile only DRAM is priced: the on-chip units are n/a (null in the
    JSON, <NA> in the table, 'n/a' in the text), excluded by name, and the total is DRAM's."""
    report = fpga_report
    res = report.result
    e = res.energy
    assert e.by_unit["stce"] is None and e.by_unit["vector"] is None
    assert e.by_unit["dram"] == e.energy_j > 0 and not e.complete
    assert {"stce.mac", "stce.static", "sore.compare", "vector.lane_op",
            "buffer:act.read_bytes"} <= set(e.excluded)
    doc = json.loads(report.json_text())
    assert doc["energy"]["by_unit"]["stce"] is None and doc["energy"]["static"]["stce"] is None
    assert doc["energy"]["complete"] is False
    frame = tidy_frame(res)
    gemms = frame[frame["op"] == "gemm"]
    assert gemms["stce_j"].isna().all() and gemms["buffer_j"].isna().all()
    assert (gemms["dram_j"] > 0).all()
    assert "stce n/a" in report.text()


def test_partial_energy_leads_with_what_it_covers(fpga_report):
    """With only DRAM priced, the total is never read as the iteration's: the text leads with
    'X priced (DRAM only; k of n terms n/a)' and calls it a lower bound (the dense twin's
    too); the JSON and the metrics say it is incomplete and what it covers."""
    e = fpga_report.result.energy
    assert [t for t, price in e.prices.items() if price is not None] == [
        "dram.read_bytes", "dram.write_bytes"]
    covers = f"DRAM only; {len(e.excluded)} of {len(e.prices)} terms n/a"
    assert e.coverage == covers and len(e.excluded) == len(e.prices) - 2
    lines = fpga_report.text().splitlines()
    (headline,) = [line for line in lines if line.startswith("energy ")]
    assert headline == (f"energy     {joules(e.energy_j)} priced ({covers}): a lower bound, "
                        "not the iteration's energy")
    (dense,) = [line for line in lines if line.startswith("  dense training")]
    assert f"{joules(fpga_report.dense.energy_j)} priced (DRAM only; " in dense
    assert "per iteration" not in headline and "per iteration" not in dense
    doc = fpga_report.to_json()
    assert doc["energy"]["complete"] is False and doc["energy"]["coverage"] == covers
    assert doc["dense_energy_coverage"] == fpga_report.dense.energy.coverage
    metrics = fpga_report.metrics()
    assert metrics["energy_complete"] is False and metrics["energy_coverage"] == covers


def _dense_line(report) -> str:
    (line,) = [line for line in report.text().splitlines()
               if line.startswith("  dense training on the same hardware: ")]
    return line


@pytest.mark.parametrize("which", ["fpga_report", "default_report"])
def test_dense_saving_is_given_when_both_runs_price_the_same_terms(which, request):
    """The dense twin's line gives the saving of the priced totals when no term is priced in
    one run and n/a in the other: on VCU1525 both price DRAM only (the sparse run's extra
    terms, index reads and mask compares, are n/a); on asic-45nm the sparse run's extra terms
    are priced. Terms are n/a in both, so it is a saving on the priced terms."""
    report = request.getfixturevalue(which)
    e, dense = report.result.energy, report.dense.energy
    assert set(e.prices) > set(dense.prices)  # the sparse run incurs terms the dense one not
    saved = 1 - e.energy_j / dense.energy_j
    words = f"{saved:.1%} saved" if saved >= 0 else f"{-saved:.1%} more"
    assert _dense_line(report).endswith(
        f"{joules(dense.energy_j)} priced ({dense.coverage}); {words} on the priced terms")


def test_no_dense_saving_when_the_runs_price_different_terms(fpga_report):
    """A dense twin priced with another table (asic-45nm prices the MACs the sparse run's
    VCU1525 profile leaves n/a) sums other terms: its line gives no saving."""
    res = fpga_report.dense
    hw = load_hardware("sat", [("energy", "vcu1525")])
    repriced = replace(res, energy=price_run(res, hw, load_energy_table("asic-45nm")))
    assert repriced.energy.prices["stce.mac"] is not None
    assert fpga_report.result.energy.prices["stce.mac"] is None
    line = _dense_line(replace(fpga_report, dense=repriced))
    assert line.endswith("; the two runs price different terms: no saving computed")
    assert "saved" not in line and "more" not in line


def test_complete_energy_reads_per_iteration(tmp_path):
    """When the table prices every term that occurred, the total is the iteration's energy and
    reads so: 'X per iteration', no 'priced (...)', no lower bound; complete in the JSON."""
    table = TINY_TABLE.replace('static: {mw_per_lane: null, source: "not modelled in this '
                               'test"}', "static: {mw_per_lane: 1.0, source: test}", 1)
    report = _tiny_gemm(tmp_path, table)
    e = report.result.energy
    assert e.complete and e.coverage == "every term priced"
    (headline,) = [line for line in report.text().splitlines() if line.startswith("energy ")]
    assert headline == f"energy     {joules(e.energy_j)} per iteration"
    doc = report.to_json()
    assert doc["energy"]["complete"] is True and doc["energy"]["excluded"] == []
    assert report.metrics()["energy_complete"] is True


@pytest.mark.parametrize(("prices", "expected"), [
    ({"stce.mac": 1.0, "stce.static": 2.0}, "every term priced"),
    ({"stce.mac": 1.0, "stce.static": 2.0, "sore.static": None, "buffer:a.static": None,
      "buffer:b.static": None, "dram.read_bytes": 1.0, "dram.static": None},
     "4 of 7 terms n/a: static power of SORE, 2 buffers, DRAM"),
    ({"stce.mac": None, "stce.static": None, "dram.read_bytes": 1.0, "dram.static": None},
     "DRAM only; 3 of 4 terms n/a"),
    ({"stce.mac": None, "stce.static": 1.0, "dram.read_bytes": 1.0, "dram.static": 2.0},
     "1 of 4 terms n/a"),
    ({"stce.mac": None, "dram.read_bytes": None}, "nothing priced; 2 of 2 terms n/a"),
])
def test_coverage_names_what_the_priced_total_leaves_out(prices, expected):
    """What a total covers, from each term's price (None: n/a): every term; the static power
    of named units; only the units with any priced term; or the count alone."""
    assert coverage(prices) == expected


def _values(obj):
    """Every leaf value of nested dicts, lists and tuples."""
    if isinstance(obj, dict):
        return [v for value in obj.values() for v in _values(value)]
    if isinstance(obj, list | tuple):
        return [v for value in obj for v in _values(value)]
    return [obj]


def test_the_python_api_returns_floats_never_fractions(default_report):
    """What `satsim.api.run` hands a user holds floats (or None): the energies of the result
    and its dense twin, their breakdowns, the metrics, the JSON and the tidy frame. The exact
    Fractions stay inside, in `energy.exact`, and round to the floats shown."""
    for res in (default_report.result, default_report.dense):
        e = res.energy
        assert type(res.energy_j) is float
        leaves = _values([e.by_unit, e.by_phase, e.by_layer, e.static, e.by_op,
                          [e.op_energy(r["index"]) for r in res.rows]])
        assert leaves and all(type(v) is float or v is None for v in leaves)
        assert type(e.exact.total) is Fraction and float(e.exact.total) == e.energy_j
        assert e.by_unit == {u: None if j is None else float(j)
                             for u, j in e.exact.by_unit.items()}
        frame = tidy_frame(res)
        assert all(str(frame[c].dtype) == "Float64" for c in ENERGY_COLUMNS)
    leaves = _values([default_report.metrics(), default_report.to_json()])
    assert not [v for v in leaves if isinstance(v, Fraction)]
    assert type(default_report.metrics()["energy_j"]) is float


def test_without_a_table_energy_is_not_modelled():
    """The scalesim preset names no table (energy: null): energy_j and energy are null, the
    text says so, and the table's energy columns are <NA>."""
    report = run(hardware="scalesim", dataflow="scalesim-ws", baseline=False)
    doc = report.to_json()
    assert doc["energy_j"] is None and doc["energy"] is None
    assert report.metrics()["energy_j"] is None
    assert "energy     not modelled" in report.text()
    assert tidy_frame(report.result)["energy_j"].isna().all()


def test_sram_price_is_log_log_in_the_bank_capacity():
    """Horowitz's three caches are the knots (10, 20, 100 pJ per 64 bits at 8 KB, 32 KB,
    1 MB); between two knots the price is a power law: at 16 KiB the geometric mean of its
    neighbours (up to float rounding); beyond them, the nearest segment's line."""
    curve = load_energy_table("asic-45nm").sram.access
    assert [curve.at(k) * 64 for k in (8, 32, 1024)] == [10.0, 20.0, 100.0]
    assert curve.at(16) == pytest.approx(math.sqrt(0.15625 * 0.3125), rel=1e-15)
    assert curve.at(4) == pytest.approx(0.15625 / math.sqrt(2), rel=1e-15)
    prices = [curve.at(k) for k in (1, 4, 8, 100, 512, 1024, 4096)]
    assert prices == sorted(prices)


def test_shipped_tables_cite_a_public_source_for_every_price():
    """Every shipped table prices every action each component declares and its static power,
    each with a source, and none points at project notes."""
    assert set(shipped_tables()) == {"asic-45nm", "vcu1525"}
    for name in shipped_tables():
        table = load_energy_table(name)
        assert isinstance(table, EnergyTable)
        found = []
        for component, declared in components().items():
            prices = table.prices(component)
            for action in [*declared.actions, "static"]:
                entry = getattr(prices, action)
                found += entry.values() if isinstance(entry, dict) else [entry]
        assert len(found) >= 14
        for price in found:
            assert price.source.strip() and "REFERENCE" not in price.source
            assert "DESIGN" not in price.source


def test_tidy_table_has_one_row_per_op_and_unit_suffixed_columns(cli, tmp_path):
    """`satsim run --table` writes Parquet or CSV: one row per op of the JSON, quantities
    named by unit, the per-op energies equal to the JSON's."""
    out = {s: tmp_path / f"ops.{s}" for s in ("parquet", "csv")}
    doc_path = tmp_path / "r.json"
    done = cli("run", "--workload", "resnet9-cifar-bdwp", "--table", str(out["parquet"]),
               "--json", str(doc_path))
    assert done.returncode == 0, done.stderr
    done = cli("run", "--workload", "resnet9-cifar-bdwp", "--table", str(out["csv"]))
    assert done.returncode == 0, done.stderr
    doc = json.loads(doc_path.read_text())
    frames = [pd.read_parquet(out["parquet"]), pd.read_csv(out["csv"])]
    for frame in frames:
        assert len(frame) == len(doc["ops"])
        assert list(frame["index"]) == [op["index"] for op in doc["ops"]]
        for column in ("start_cycles", "end_cycles", "cycles", "busy_cycles",
                       "stall_dram_cycles", "dram_read_bytes", "buffer_read_bytes",
                       "stce_j", "buffer_j", "dram_j", "energy_j"):
            assert column in frame.columns
        assert not any(c in frame.columns for c in ("start", "end", "stall_dram"))
    assert list(frames[0]["energy_j"]) == [op["energy_j"] for op in doc["ops"]]
    assert (frames[0]["workload"] == doc["workload"]).all()


def _hw_with_table(tmp_path, table_text):
    (tmp_path / "bad.yaml").write_text(table_text)
    hw = (tmp_path / "hw.yaml")
    sat = load_hardware("sat").model_dump(mode="json")
    sat["energy"] = {"table": "bad.yaml"}  # relative: found beside the hardware file
    hw.write_text(json.dumps(sat))
    return str(hw)


BAD_TABLES = {
    "negative value": (TINY_TABLE.replace("mux_select: {pj: 0.25", "mux_select: {pj: -0.25"),
                       "systolic.mux_select.pj: Input should be greater than or equal to 0"),
    "missing source": (TINY_TABLE.replace("index_read: {pj: 0.125, source: test}",
                                          "index_read: {pj: 0.125}"),
                       "systolic.index_read.source: required key is missing"),
    "null without a source": (TINY_TABLE.replace("compare: {pj: 0.75, source: test}",
                                                 "compare: {pj: null}"),
                              "maskgen.compare.source: required key is missing"),
    "undeclared action": (TINY_TABLE.replace("  compare: {pj: 0.75, source: test}",
                                             "  compare: {pj: 0.75, source: test}\n"
                                             "  sort: {pj: 1.0, source: test}"),
                          "maskgen.sort: not an action it declares (compare; and static)"),
    "action of another kind": (TINY_TABLE.replace("  compare: {pj: 0.75, source: test}",
                                                  "  compare: {pj: 0.75, source: test}\n"
                                                  "  lane_op: {pj: 1.0, source: test}"),
                               "maskgen.lane_op: not an action it declares"),
    "missing action": (TINY_TABLE.replace("  mac_gated: {pj: 0.5, source: test}\n", ""),
                       "systolic.mac_gated: required key is missing"),
    "missing kind": (TINY_TABLE[:TINY_TABLE.index("maskgen:")]
                     + TINY_TABLE[TINY_TABLE.index("vector:"):],
                     "maskgen: prices no maskgen unit, and unit sore is one"),
    "unknown component": (TINY_TABLE + "wuve:\n  lane_op: {pj: 1.0, source: test}\n",
                          "wuve: no unit kind or memory of that name (systolic, mma, maskgen, "
                          "vector, dram, sram)"),
    "keyed by unit, as before": (TINY_TABLE.replace("systolic:", "stce:"),
                                 "stce: a table is keyed by unit kind now: this is systolic"),
    "wrong unit": (TINY_TABLE.replace("mw_per_pe: 1.5", "pj: 1.5"),
                   "systolic.static: wrong unit 'pj': this price is in 'mw_per_pe'"),
    "static per another measure": (TINY_TABLE.replace("mw_per_pe: 1.5", "mw_per_lane: 1.5"),
                                   "systolic.static: wrong unit 'mw_per_lane': this price is "
                                   "in 'mw_per_pe'"),
    "dram in pJ per byte": (TINY_TABLE.replace("read: {pj_per_bit: 16.0",
                                               "read: {pj_per_byte: 128.0"),
                            "dram.read: wrong unit 'pj_per_byte': this price is in "
                            "'pj_per_bit'"),
    "unknown format": (TINY_TABLE.replace("fp16/fp32", "fp16/fp64"),
                       "systolic.mac: 'fp16/fp64': expected 'operand/accumulate'"),
    "sram not positive": (TINY_TABLE.replace("{8: 0.25,", "{8: 0,"),
                          "sram.access.pj_per_bit_by_kib: the price at 8 KiB "
                          "must be a positive number"),
}


@pytest.mark.parametrize("text, expected", BAD_TABLES.values(), ids=BAD_TABLES)
def test_bad_energy_table_is_one_error_line(cli, tmp_path, text, expected):
    """A bad table fails at load with `error: <table file>: <field>: <reason>`, exit 2, no
    traceback."""
    done = cli("run", "--hw", _hw_with_table(tmp_path, text))
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith(f"error: {tmp_path / 'bad.yaml'}: "), line
    assert expected in line, line


@pytest.mark.parametrize("override, expected", [
    ("energy=nope", "--set energy: nope: no such file or energy table (shipped: "
                    "asic-45nm, vcu1525)"),
    ("energy.dram_pj_per_bit=-1", "energy.dram_pj_per_bit"),
])
def test_bad_energy_choice_is_one_error_line(cli, override, expected):
    """An unknown table or a negative DRAM price in the hardware config: one error line."""
    done = cli("run", "--set", override)
    assert done.returncode == 2 and done.stderr.startswith("error: "), done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr
