"""Figures of a run or a comparison (`satsim plot KIND INPUT`) and the HTML report
(`satsim report RESULT --out DIR`): what each figure draws equals the numbers in the JSON it
was drawn from, wrong inputs are one error line, and the page is self-contained."""

import copy
import html
import json
import re
from html.parser import HTMLParser

import pytest

from satsim.cli import main
from satsim.errors import SatsimError
from satsim.report.compare_figures import speedup_figure
from satsim.report.documents import run_title
from satsim.report.energy_figures import energy_data, energy_figure, energy_label
from satsim.report.html import write_report
from satsim.report.result import PHASES
from satsim.report.time_figures import (
    UNIT_NAMES,
    breakdown_figure,
    layer_utilization,
    roofline_data,
    roofline_figure,
    utilization_figure,
)

WORKLOAD = "resnet9-cifar-bdwp"


def _write(path, doc):
    path.write_text(json.dumps(doc))
    return path


@pytest.fixture(scope="module")
def run_doc():
    """A small real run (ResNet-9, BDWP 2:8, the SAT preset with DRAM and energy)."""
    from satsim.api import run

    return json.loads(run(WORKLOAD).json_text())


@pytest.fixture(scope="module")
def compare_doc():
    """A real comparison of one model, widened to three models by renaming copies."""
    from satsim.compare import compare

    doc = compare(["resnet9-cifar"], "2:8").to_json()
    extra = []
    for name, factor in (("model-b", 0.9), ("model-c", 1.1)):
        row = copy.deepcopy(doc["models"][0])
        row["model"] = name
        for method in ("srste", "bdwp"):
            row[method]["speedup"] *= factor
        extra.append(row)
    doc["models"] += extra
    return doc


@pytest.fixture
def run_json(tmp_path, run_doc):
    return _write(tmp_path / "run.json", run_doc)


class _Bars:
    def __init__(self):
        self.patches = []


def _container_gids(fig):
    """Per bar series (the figure names each bar ``series/i``), its bars in order."""
    found = {}
    for ax in fig.axes:
        for patch in ax.patches:
            if "/" in (patch.get_gid() or ""):
                found.setdefault(patch.get_gid().split("/")[0], _Bars()).patches.append(patch)
    return found


def test_breakdown_stacks_each_phases_busy_cycles_on_its_unit(run_doc):
    """Every phase of the JSON is one segment on its unit's bar, as long as the phase's busy
    cycles; a unit's stack is the sum of its phases."""
    fig = breakdown_figure(run_doc)
    bars = _container_gids(fig)
    for phase, total in run_doc["phases"].items():
        (segment,) = bars[f"breakdown-{phase}"].patches
        assert segment.get_width() * 1e6 == pytest.approx(total["busy_cycles"], rel=1e-12)
    stce = sum(run_doc["phases"][p]["busy_cycles"] for p in ("FF", "BP", "WG"))
    wg = bars["breakdown-WG"].patches[0]
    assert (wg.get_x() + wg.get_width()) * 1e6 == pytest.approx(stce, rel=1e-12)


def test_speedup_has_one_bar_per_model_and_method_at_its_speedup(compare_doc):
    """Three models, two methods: three bars per method, each as tall as its speedup."""
    fig = speedup_figure(compare_doc)
    bars = _container_gids(fig)
    for method in ("srste", "bdwp"):
        heights = [p.get_height() for p in bars[f"speedup-{method}"].patches]
        assert heights == [row[method]["speedup"] for row in compare_doc["models"]]
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert ticks == ["resnet9", "model-b", "model-c"]


def test_energy_bars_sum_to_the_json_per_phase_and_static(run_doc):
    """Each phase's stack (its ops' energy per unit) is energy.by_phase of that phase, the
    static bar energy.by_phase.static, and all of them energy_j."""
    _, bars = energy_data(run_doc)
    by_phase = run_doc["energy"]["by_phase"]
    assert list(bars) == [*[p for p in PHASES if p in by_phase], "static"]
    for name, per_unit in bars.items():
        total = sum(v for v in per_unit.values() if v is not None)
        assert total == pytest.approx(by_phase[name], rel=1e-9)
    fig = energy_figure(run_doc)
    stacks = [sum(bars.patches[i].get_height() for bars in _container_gids(fig).values())
              for i in range(len(by_phase))]
    assert [h / 1e3 for h in stacks] == pytest.approx(list(by_phase.values()), rel=1e-9)
    assert sum(stacks) / 1e3 == pytest.approx(run_doc["energy_j"], rel=1e-9)


def test_energy_of_an_unpriced_unit_is_na_not_zero(run_doc):
    """A unit whose every term is unpriced is 'n/a' in the legend, never '0'."""
    doc = copy.deepcopy(run_doc)
    doc["energy"]["by_unit"]["sore"] = None
    for op in doc["ops"]:
        if "sore" in op["energy_by_unit"]:
            op["energy_by_unit"]["sore"] = None
    _, bars = energy_data(doc)
    assert bars["MASK"]["sore"] is None
    legend = [t.get_text() for t in energy_figure(doc).legends[0].get_texts()]
    assert "SORE: n/a" in legend


def _every_term_priced(doc):
    """``doc`` as if its table priced every term that occurred (its dense twin's too)."""
    doc = copy.deepcopy(doc)
    energy = doc["energy"]
    energy["prices"] = {t: 1.0 if p is None else p for t, p in energy["prices"].items()}
    energy.update(excluded=[], excluded_why={}, complete=True, coverage="every term priced")
    doc["dense_energy_coverage"] = "every term priced"
    return doc


def test_energy_figure_leads_with_what_the_total_covers(run_doc):
    """The 45 nm table leaves the static power of the SORE, the buffers and the DRAM n/a: the
    title gives 'X priced (k of n terms n/a: static power of ...)' and the axis 'priced
    energy' (also for a file from before energy.coverage existed). With every term priced:
    'X per iteration' and 'energy per iteration (mJ)'."""
    covers = run_doc["energy"]["coverage"]
    assert covers.startswith(f"{len(run_doc['energy']['excluded'])} of "
                             f"{len(run_doc['energy']['prices'])} terms n/a: static power of")
    total = energy_label(run_doc["energy_j"])
    older = copy.deepcopy(run_doc)
    del older["energy"]["coverage"]
    for doc in (run_doc, older):
        ax = energy_figure(doc).axes[0]
        title, energy = ax.get_title().split("\n", 1)
        assert title == run_title(doc)
        assert energy.replace("\n", " ") == f"{total} priced ({covers})"
        assert ax.get_ylabel() == "priced energy per iteration (mJ)"
    ax = energy_figure(_every_term_priced(run_doc)).axes[0]
    assert ax.get_title().endswith(f"\n{total} per iteration")
    assert ax.get_ylabel() == "energy per iteration (mJ)"


def test_energy_without_a_table_is_an_error_naming_the_field(run_doc):
    """A run without an energy table has nothing to stack: an error, not an empty plot."""
    doc = dict(run_doc, energy=None, energy_j=None)
    with pytest.raises(SatsimError, match=r"run.json: energy: no energy in this run"):
        energy_figure(doc, "run.json")


def test_utilization_per_layer_is_macs_over_busy_pe_cycles(run_doc):
    """A layer's FF point is its FF MACs over (busy cycles x rows x cols); the unit bars are
    the JSON's units' utilization."""
    layers, values = layer_utilization(run_doc)
    array = run_doc["hardware_config"]["units"]["array"]
    pes = array["rows"] * array["cols"]
    first = [o for o in run_doc["ops"] if o["layer"] == layers[0] and o["phase"] == "FF"]
    expected = sum(o["macs"] for o in first) / (sum(o["busy_cycles"] for o in first) * pes)
    assert values["FF"][0] == pytest.approx(expected)
    assert all(0 < v <= 1 for vs in values.values() for v in vs if v is not None)
    fig = utilization_figure(run_doc)
    widths = [p.get_width() for p in _container_gids(fig)["utilization-units"].patches]
    assert widths == [100 * run_doc["units"][u]["utilization"]
                      for u in ("stce", "sore", "vector", "dram") if u in run_doc["units"]]


def test_roofline_points_lie_under_both_ceilings(run_doc):
    """One point per GEMM that moved DRAM bytes; none above the array's peak or the DRAM
    line (an op's bytes all move between its start and end)."""
    data = roofline_data(run_doc)
    hw = run_doc["hardware_config"]
    array = hw["units"][hw["routes"]["FF"]]
    assert data.peak == array["rows"] * array["cols"] * hw["clock_mhz"] * 1e6
    dram = hw["memory"]["dram"]
    assert data.bandwidth == pytest.approx(
        dram["channels"] * dram["gbps_per_channel"] * dram["efficiency"] * 1e9)
    gemms = [o for o in run_doc["ops"] if o["unit"] == "stce" and o["macs"]]
    assert len(data.intensity) + data.without_traffic == len(gemms)
    for x, y in zip(data.intensity, data.rate, strict=True):
        assert y <= min(data.peak, data.bandwidth * x) * (1 + 1e-9)


def test_roofline_on_ideal_memory_is_an_error(run_doc):
    """Ideal memory moves no DRAM byte: intensity is unbounded, so there is no roofline."""
    doc = copy.deepcopy(run_doc)
    for op in doc["ops"]:
        op["dram_read_bytes"] = op["dram_write_bytes"] = 0
    with pytest.raises(SatsimError, match="memory is ideal"):
        roofline_figure(doc)


@pytest.mark.parametrize("suffix", [".png", ".svg", ".pdf"])
def test_plot_writes_each_format_with_the_same_bytes_twice(tmp_path, run_json, suffix,
                                                           capsys):
    """`satsim plot breakdown` writes the format of the suffix, deterministically."""
    outs = [tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"]
    for out in outs:
        assert main(["plot", "breakdown", str(run_json), "--out", str(out)]) == 0
    data = outs[0].read_bytes()
    assert data == outs[1].read_bytes()
    assert data[:4] == {".png": b"\x89PNG", ".svg": b"<?xm", ".pdf": b"%PDF"}[suffix]
    assert capsys.readouterr().out.startswith(f"{outs[0]}: busy cycles")


def test_a_run_file_for_the_speedup_plot_is_one_error_line(tmp_path, run_json, cli):
    """The wrong kind of input names the file and what it is; exit 2, no traceback, no
    image."""
    out = tmp_path / "s.png"
    done = cli("plot", "speedup", str(run_json), "--out", str(out))
    assert done.returncode == 2
    assert done.stderr == (f"error: {run_json}: is a satsim run --json result; plot speedup "
                           "needs a satsim compare --json file\n")
    assert not out.exists()


def test_a_file_that_is_neither_is_one_error_line(tmp_path, capsys):
    """JSON that is no satsim result, and text that is no JSON, are named as such."""
    other = _write(tmp_path / "other.json", {"schema": "something/1"})
    assert main(["plot", "roofline", str(other), "--out", str(tmp_path / "r.png")]) == 2
    assert capsys.readouterr().err == (
        f"error: {other}: neither a satsim run --json result nor a satsim compare --json "
        "file (schema 'something/1')\n")
    text = tmp_path / "t.json"
    text.write_text("cycles: 3\n")
    assert main(["plot", "energy", str(text), "--out", str(tmp_path / "e.png")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {text}: not JSON (line 1")


class _Page(HTMLParser):
    """Every tag, and every reference (src, href) in the page."""

    def __init__(self):
        super().__init__()
        self.tags, self.refs, self.text = [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.refs += [v for k, v in attrs if k in ("src", "href", "data", "srcset")]

    def handle_data(self, data):
        self.text.append(data)


def test_report_is_one_self_contained_page(tmp_path, run_json):
    """index.html alone: figures as data URIs, no scripts, no external stylesheet or link;
    the tables and the scope are in it."""
    page = write_report(run_json, tmp_path / "rep")
    assert sorted(p.name for p in (tmp_path / "rep").iterdir()) == ["index.html"]
    parser = _Page()
    parser.feed(page.read_text())
    assert parser.tags.count("img") == 4  # breakdown, roofline, energy, utilization
    assert parser.refs and all(r.startswith("data:image/png;base64,") for r in parser.refs)
    assert not {"script", "link", "iframe", "object"} & set(parser.tags)
    text = " ".join(parser.text)
    for heading in ("Totals", "Per phase", "Per unit", "Energy",
                    "What was modelled, and what was not", "Provenance"):
        assert heading in text
    assert "sore.static: not modelled" in text


def _tables(page: str) -> dict[str, list[list[str]]]:
    """Each table of the page under its heading: rows of cell texts, the header first."""
    found = {}
    for heading, body in re.findall(r"<h2>([^<]*)</h2>\s*(<table>.*?</table>)", page, re.S):
        found[heading] = [[html.unescape(c) for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>",
                                                                 row)]
                          for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)]
    return found


def test_report_leads_with_what_the_energy_total_covers(tmp_path, run_doc):
    """Unless every term is priced, the totals call the energies 'priced energy per
    iteration', and the energy section leads with 'X priced (coverage)', the dense twin's
    too; with every term priced they read 'energy per iteration' and 'X per iteration'."""
    page = write_report(_write(tmp_path / "r.json", run_doc), tmp_path / "rep").read_text()
    quantities = [row[0] for row in _tables(page)["Totals"]]
    assert {"priced energy per iteration", "dense twin's priced energy per iteration"} <= set(
        quantities)
    assert not [q for q in quantities if q.endswith("energy per iteration")
                and "priced" not in q]
    run = f"{energy_label(run_doc['energy_j'])} priced ({run_doc['energy']['coverage']})"
    dense = (f"{energy_label(run_doc['dense_energy_j'])} priced "
             f"({run_doc['dense_energy_coverage']})")
    assert f"<p><b>{html.escape(run)}</b>: a lower bound" in page
    assert f"Dense twin: {html.escape(dense)}." in page
    complete = _every_term_priced(run_doc)
    page = write_report(_write(tmp_path / "c.json", complete), tmp_path / "rep").read_text()
    quantities = [row[0] for row in _tables(page)["Totals"]]
    assert {"energy per iteration", "dense twin's energy per iteration"} <= set(quantities)
    assert not [q for q in quantities if "priced" in q] and "lower bound" not in page
    assert f"<p><b>{energy_label(run_doc['energy_j'])} per iteration</b>;" in page


def test_report_explains_the_stalls_and_each_units_idle_cycles(tmp_path, run_doc):
    """The op waits summed over ops are headed 'queued (op-cycles)' and explained (not idle
    time, can exceed the iteration); per unit, the table gives the JSON's busy and idle
    cycles and, for a compute unit, its idle cycles by cause, none negative (the DMA's: -)."""
    page = write_report(_write(tmp_path / "r.json", run_doc), tmp_path / "rep").read_text()
    tables = _tables(page)
    assert "queued (op-cycles)" in tables["Per phase"][0]
    assert "can exceed the iteration many times over; it is not idle time" in page
    header, *rows = tables["Per unit"]
    causes = ["dram", "dep", "mask", "buffer", "after_last_op"]
    assert header[3:] == ["idle (cycles)", "idle: stall DRAM", "idle: stall dep",
                          "idle: stall mask", "idle: stall buffer", "idle: after last op"]
    units = {UNIT_NAMES[u]: v for u, v in run_doc["units"].items()}
    assert [row[0] for row in rows] == list(units) and len(rows) == 4
    for name, busy, _, idle, *by_cause in rows:
        unit = units[name]
        assert [busy, idle] == [f"{unit['busy_cycles']:,}", f"{unit['idle_cycles']:,}"]
        if name == "DRAM":
            assert by_cause == ["-"] * len(causes)
        else:
            assert by_cause == [f"{unit['idle_by_cause'][c]:,}" for c in causes]
            assert min(unit["idle_by_cause"].values()) >= 0


def test_report_says_why_a_figure_is_missing(tmp_path, run_doc):
    """On ideal memory (no DRAM bytes) and without an energy table, the page says why there
    is no roofline and no energy figure instead of drawing an empty or zero one."""
    doc = copy.deepcopy(run_doc)
    for op in doc["ops"]:
        op["dram_read_bytes"] = op["dram_write_bytes"] = 0
    doc["energy"] = doc["energy_j"] = None
    page = write_report(_write(tmp_path / "ideal.json", doc), tmp_path / "rep")
    parser = _Page()
    parser.feed(page.read_text())
    text = " ".join(parser.text)
    assert parser.tags.count("img") == 2  # breakdown, utilization
    assert "No roofline figure: nothing to draw on a roofline: the memory is ideal" in text
    assert "No energy figure: no energy in this run" in text


def test_report_of_a_comparison_shows_the_speedup(tmp_path, compare_doc):
    """A compare JSON gives a page with the speedup figure and a row per model."""
    page = write_report(_write(tmp_path / "c.json", compare_doc), tmp_path / "rep")
    parser = _Page()
    parser.feed(page.read_text())
    assert parser.tags.count("img") == 1
    assert parser.tags.count("tr") == 1 + 3 + 1  # header, models, mean


def test_report_of_a_bad_input_writes_nothing(tmp_path, capsys):
    """An unreadable result is one error line, and no folder or page is left behind."""
    missing = tmp_path / "missing.json"
    assert main(["report", str(missing), "--out", str(tmp_path / "rep")]) == 2
    assert capsys.readouterr().err.startswith(f"error: {missing}: cannot read")
    assert not (tmp_path / "rep").exists()
