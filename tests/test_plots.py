"""Pareto plots of sweep results: axis labels, the Pareto mask, and the rendered figure."""

import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from satsim.errors import SatsimError
from satsim.report.plots import axis_scale, label, pareto_mask, plot_pareto


def sweep(n: int = 24) -> pd.DataFrame:
    """A small sweep frame shaped like the real one (config, metrics, bookkeeping)."""
    rng = np.random.default_rng(7)
    rows = rng.choice([8, 16, 32], size=n)
    util = rng.uniform(0.4, 0.95, size=n)
    cycles = 1e6 / (rows * rows * util)
    return pd.DataFrame({
        "point_id": [f"p{i}" for i in range(n)],
        "array.rows": rows, "array.cols": rows, "clock_mhz": 1000.0,
        "sparsity": rng.choice(["dense", "2:8", "1:4"], size=n),
        "method": "bdwp", "workload": "resnet18",
        "cycles": cycles, "seconds": cycles / 1e9, "utilization": util,
        "energy_j": [None] * n, "status": "ok", "error": [None] * n, "host_seconds": 0.1,
    })


def legend_texts(fig) -> list[str]:
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


# --- label -------------------------------------------------------------------------------


@pytest.mark.parametrize(("column", "expected"), [
    ("cycles", "cycles per iteration"),
    ("seconds", "time per iteration (s)"),
    ("utilization", "PE utilization (fraction of MAC slots)"),
    ("speedup", "speedup over dense training (x)"),
    ("energy_j", "energy per iteration (J)"),
    ("macs", "MACs per iteration"),
    ("clock_mhz", "clock (MHz)"),
    ("array.rows", "array rows (PEs)"),
    ("array.cols", "array columns (PEs)"),
])
def test_label_of_known_columns_carries_the_unit(column, expected):
    """The metrics and config paths a sweep writes have fixed labels with units."""
    assert label(column) == expected


@pytest.mark.parametrize(("column", "expected"), [
    ("stall_cycles", "stall (cycles)"), ("dram_read_bytes", "dram_read (bytes)"),
    ("sram_j", "sram (J)"), ("wall_s", "wall (s)"), ("buffer.size_kib", "buffer.size (KiB)"),
    ("dram.bandwidth_gbps", "dram.bandwidth (GB/s)"), ("noc_mhz", "noc (MHz)"),
    ("power_w", "power (W)"),
])
def test_label_of_other_columns_takes_the_unit_from_the_suffix(column, expected):
    """An unknown column ending in a unit suffix is labelled with that unit."""
    assert label(column) == expected


def test_label_of_a_column_without_unit_is_its_name():
    """No table entry and no unit suffix: the bare name (a bare suffix is a name too)."""
    assert label("dataflow.interleave") == "dataflow.interleave"
    assert label("_s") == "_s"


# --- pareto_mask -------------------------------------------------------------------------


def frame_of(points) -> pd.DataFrame:
    return pd.DataFrame(points, columns=["x", "y"], dtype=float)


def test_mask_minimizing_both():
    """Lower is better on both axes: the lower-left staircase is the front."""
    frame = frame_of([(1, 5), (2, 3), (3, 4), (4, 1), (5, 5), (3, 2)])
    assert pareto_mask(frame, "x", "y").tolist() == [True, True, False, True, False, True]


def test_mask_maximizing_x_minimizing_y():
    """maximize_x: higher x is better, so the front is the lower-right staircase."""
    frame = frame_of([(1, 1), (2, 3), (3, 2), (4, 4), (0, 0), (4, 5)])
    mask = pareto_mask(frame, "x", "y", maximize_x=True)
    assert mask.tolist() == [True, False, True, True, True, False]


def test_mask_maximizing_both():
    """maximize both: the upper-right staircase."""
    frame = frame_of([(1, 5), (2, 3), (3, 4), (5, 1), (0, 0)])
    mask = pareto_mask(frame, "x", "y", maximize_x=True, maximize_y=True)
    assert mask.tolist() == [True, False, True, True, False]


def test_mask_ties_in_one_column_are_settled_by_the_other():
    """Equal x: only the better y survives; equal y: only the better x."""
    assert pareto_mask(frame_of([(1, 3), (1, 2), (1, 4)]), "x", "y").tolist() == [
        False, True, False]
    assert pareto_mask(frame_of([(3, 1), (2, 1), (4, 1)]), "x", "y").tolist() == [
        False, True, False]


def test_mask_keeps_every_duplicate_of_a_front_point():
    """Identical points do not dominate each other: all copies stay on the front."""
    frame = frame_of([(1, 2), (2, 1), (1, 2), (3, 3), (3, 3), (2, 1)])
    assert pareto_mask(frame, "x", "y").tolist() == [True, True, True, False, False, True]


def test_mask_never_puts_rows_without_a_value_on_the_front():
    """NaN (or None) in x or y: never on the front, and it does not dominate anything."""
    frame = pd.DataFrame({"x": [np.nan, 2.0, 1.0, 0.0], "y": [0.0, 1.0, np.nan, 9.0]})
    assert pareto_mask(frame, "x", "y").tolist() == [False, True, False, True]
    objects = pd.DataFrame({"x": [1.0, 2.0], "y": [None, 3.0]})  # energy_j before modelling
    assert pareto_mask(objects, "x", "y").tolist() == [False, True]


def test_mask_of_a_single_point_and_of_no_points():
    """One point is its own front; an empty frame has an empty mask."""
    assert pareto_mask(frame_of([(4, 2)]), "x", "y").tolist() == [True]
    empty = pareto_mask(frame_of([]), "x", "y")
    assert empty.dtype == bool and empty.shape == (0,)


def test_mask_follows_row_order_not_the_index():
    """The mask is aligned with the rows as they are, whatever the frame's index."""
    frame = frame_of([(3, 3), (1, 1), (2, 2)]).set_axis([10, 0, 5])
    assert pareto_mask(frame, "x", "y").tolist() == [False, True, False]


def dominates(a, b, sense) -> bool:
    """``a`` is at least as good as ``b`` on both axes and strictly better on one."""
    a, b = np.asarray(a) * sense, np.asarray(b) * sense
    return bool(np.all(a <= b) and np.any(a < b))


@settings(max_examples=300, deadline=None, derandomize=True)
@given(points=st.lists(st.tuples(st.one_of(st.integers(0, 6), st.just(np.nan)),
                                 st.integers(0, 6)), max_size=30),
       maximize_x=st.booleans(), maximize_y=st.booleans())
def test_mask_is_exactly_the_set_of_undominated_points(points, maximize_x, maximize_y):
    """No front point is dominated by any point; every other valid point is dominated by a
    front point (small integers make ties and duplicates common)."""
    frame = frame_of(points)
    mask = pareto_mask(frame, "x", "y", maximize_x=maximize_x, maximize_y=maximize_y)
    sense = np.array([-1 if maximize_x else 1, -1 if maximize_y else 1])
    valid = [p for p in points if not np.isnan(p[0])]
    front = [p for p, on in zip(points, mask, strict=True) if on]
    for p, on in zip(points, mask, strict=True):
        if np.isnan(p[0]):
            assert not on
        elif on:
            assert not any(dominates(q, p, sense) for q in valid)
        else:
            assert any(dominates(q, p, sense) for q in front)


def test_mask_of_a_large_sweep_is_fast_enough():
    """Thousands of points (here 200,000) take a sort, not a pairwise comparison."""
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.random(200_000), "y": rng.random(200_000)})
    mask = pareto_mask(frame, "x", "y")
    best_x = frame["x"].idxmin()
    assert mask[best_x] and 0 < mask.sum() < 200


# --- plot_pareto -------------------------------------------------------------------------


@pytest.mark.parametrize(("suffix", "magic"), [
    (".png", b"\x89PNG"), (".svg", b"<?xml"), (".pdf", b"%PDF")])
def test_plot_writes_the_format_its_suffix_names(tmp_path, suffix, magic):
    """The output format follows the file's suffix; the file is complete and non-empty."""
    out = tmp_path / f"front{suffix}"
    plot_pareto(sweep(), "seconds", "utilization", maximize_y=True, out=out)
    data = out.read_bytes()
    assert data.startswith(magic) and len(data) > 1000
    assert [p.name for p in tmp_path.iterdir()] == [out.name]  # no temporary left behind


def test_plot_axis_labels_carry_units_and_direction(tmp_path):
    """Axes are labelled with label(), in the unit axis_scale picks (the sweep's times are
    tens of µs), and say which way is better."""
    fig = plot_pareto(sweep(), "seconds", "utilization", maximize_y=True,
                      out=tmp_path / "front.svg")
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time per iteration (µs) — lower is better"
    assert ax.get_ylabel() == "PE utilization (fraction of MAC slots) — higher is better"
    assert "time per iteration (µs)" in (tmp_path / "front.svg").read_text()


def test_plot_highlights_the_front_in_x_order_with_a_legend_entry():
    """The front is one line through exactly the mask's points, sorted by x, counted in the
    legend."""
    frame = sweep()
    fig = plot_pareto(frame, "cycles", "utilization", maximize_y=True)
    mask = pareto_mask(frame, "cycles", "utilization", maximize_y=True)
    (line,) = fig.axes[0].get_lines()
    assert line.get_xdata().tolist() == sorted(frame.loc[mask, "cycles"] / 1e3)  # thousands
    assert f"Pareto front ({mask.sum()} of 24 points)" in legend_texts(fig)


def test_plot_default_title_names_the_sweep_its_workloads_and_points():
    """Default title: "sweep <name>: <workloads>, <N> design points" (the name from the
    frame's attrs, as load_results sets it; more than three workloads counted); ``title=``
    replaces it."""
    frame = sweep()
    assert plot_pareto(frame, "cycles", "seconds").get_suptitle() == (
        "resnet18, 24 design points")
    frame.attrs["sweep"] = "smoke"
    frame["workload"] = ["vit-tiny", "resnet9"] * 12
    assert plot_pareto(frame, "cycles", "seconds").get_suptitle() == (
        "sweep smoke: resnet9, vit-tiny, 24 design points")
    frame["workload"] = [f"w{i % 4}" for i in range(24)]
    assert plot_pareto(frame, "cycles", "seconds").get_suptitle() == (
        "sweep smoke: 4 workloads, 24 design points")
    fig = plot_pareto(frame, "cycles", "seconds", title="ResNet-18 sweep")
    assert fig.get_suptitle() == "ResNet-18 sweep"


def test_plot_colours_categories_with_one_legend_entry_each():
    """A string colour column: one legend entry per value (natural order), titled by label()."""
    fig = plot_pareto(sweep(), "cycles", "utilization", color="sparsity", maximize_y=True)
    texts = legend_texts(fig)
    assert texts[:3] == ["1:4", "2:8", "dense"]
    assert texts[3].startswith("Pareto front")
    assert fig.axes[0].get_legend().get_title().get_text() == "N:M sparsity"


def test_plot_colours_a_few_valued_numeric_column_as_categories():
    """A numeric config column with few values (array.rows) gets a legend, not a colorbar."""
    fig = plot_pareto(sweep(), "cycles", "utilization", color="array.rows")
    assert legend_texts(fig)[:3] == ["8", "16", "32"]
    assert len(fig.axes) == 1


def test_plot_colours_a_numeric_column_with_a_labelled_colorbar():
    """A many-valued numeric colour column: a colormap, and a colorbar labelled with units."""
    fig = plot_pareto(sweep(), "cycles", "seconds", color="utilization")
    assert len(fig.axes) == 2
    assert fig.axes[1].get_ylabel() == "PE utilization (fraction of MAC slots)"


def test_plot_leaves_out_failed_rows_and_says_so():
    """Rows whose status is not "ok" are neither drawn nor on the front, even if their
    numbers would win; the title notes how many were left out."""
    frame = sweep()
    frame.loc[0, ["cycles", "utilization", "status"]] = [1.0, 1.0, "failed"]
    fig = plot_pareto(frame, "cycles", "utilization", maximize_y=True)
    ax = fig.axes[0]
    assert fig.get_suptitle() == "resnet18, 23 design points\n(1 failed: not shown)"
    assert 1.0 not in ax.get_lines()[0].get_xdata()
    assert sum(len(c.get_offsets()) for c in ax.collections) == 23


def test_plot_leaves_out_rows_without_x_or_y():
    """A successful row missing a value cannot be placed: left out and counted."""
    frame = sweep()
    frame.loc[[1, 2], "cycles"] = np.nan
    assert plot_pareto(frame, "cycles", "utilization").get_suptitle() == (
        "resnet18, 22 design points\n(2 without cycles or utilization: not shown)")


def test_plot_uses_a_log_axis_for_values_spanning_decades():
    """Positive values spanning 100x or more are drawn on a log axis; others linearly."""
    frame = pd.DataFrame({"cycles": [1e3, 1e4, 1e5, 1e6], "utilization": [0.9, 0.8, 0.7, 0.6]})
    ax = plot_pareto(frame, "cycles", "utilization").axes[0]
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "linear")


@pytest.mark.parametrize(("column", "values", "factor", "text"), [
    ("cycles", [3.06e7, 9.1e7], 1e6, "cycles per iteration (millions)"),
    ("cycles", [250.0, 900.0], 1.0, "cycles per iteration"),
    ("seconds", [0.153, 0.455], 1e-3, "time per iteration (ms)"),
    ("seconds", [1.5, 12.0], 1.0, "time per iteration (s)"),
    ("energy_j", [0.289, 0.327], 1e-3, "energy per iteration (mJ)"),
    ("macs", [2e9, 3e9], 1e9, "MACs per iteration (billions)"),
    ("stall_dram_cycles", [5e4, 8e5], 1e3, "stall_dram (thousand cycles)"),
    ("dram_read_bytes", [8e8, 9e8], 1e6, "dram_read (MB)"),
    ("utilization", [0.85, 0.95], 1.0, "PE utilization (fraction of MAC slots)"),
])
def test_axis_scale_puts_the_largest_value_between_1_and_1000(column, values, factor, text):
    """Times, energies, counts and sizes get the scaled unit that keeps tick labels short;
    other columns keep their label."""
    assert axis_scale(column, np.array(values)) == (factor, text)


def test_plot_axes_have_no_offset_or_exponent():
    """ResNet-18-sized numbers (tens of millions of cycles, hundreds of ms, hundreds of mJ)
    read as plain tick labels: no '1e7' and no '+2.9e2' offset on either axis."""
    frame = pd.DataFrame({"cycles": [30_606_222, 56_460_994, 91_000_498],
                          "seconds": [0.153031, 0.282305, 0.455002],
                          "energy_j": [0.2912, 0.2895, 0.2896]})
    for x in ("cycles", "seconds"):
        fig = plot_pareto(frame, x, "energy_j")
        fig.canvas.draw()
        for axis in (fig.axes[0].xaxis, fig.axes[0].yaxis):
            assert axis.get_offset_text().get_text() == ""
            labels = [t.get_text() for t in axis.get_ticklabels() if t.get_text()]
            assert labels and not [t for t in labels if "e" in t or "×" in t]


def test_plot_draws_the_front_beneath_the_points_as_hollow_rings():
    """Every point keeps its colour on the front: the front's line and rings lie beneath the
    points, the rings are hollow and wider than a point."""
    fig = plot_pareto(sweep(), "cycles", "utilization", color="sparsity", maximize_y=True)
    ax = fig.axes[0]
    (front,) = ax.get_lines()
    assert front.get_markerfacecolor() == "none" and front.get_marker() == "o"
    for points in ax.collections:
        assert points.get_zorder() > front.get_zorder()
        assert front.get_markersize() > 1.5 * np.sqrt(points.get_sizes().max())


def test_plot_of_partial_energy_says_priced_and_what_is_left_out():
    """When the energy_coverage column says terms are n/a, the energy axis is 'priced energy'
    and a footnote names what is left out; with every term priced, neither."""
    frame = pd.DataFrame({"seconds": [0.15, 0.28, 0.45], "energy_j": [0.291, 0.289, 0.33],
                          "energy_coverage": ["7 of 28 terms n/a: static power of SORE"] * 3})
    fig = plot_pareto(frame, "seconds", "energy_j")
    assert fig.axes[0].get_ylabel() == "priced energy per iteration (mJ) — lower is better"
    assert fig.get_supxlabel() == ("Energy: priced terms only (7 of 28 terms n/a: static "
                                   "power of SORE).")
    frame["energy_coverage"] = "every term priced"
    fig = plot_pareto(frame, "energy_j", "seconds")
    assert fig.axes[0].get_xlabel() == "energy per iteration (mJ) — lower is better"
    assert fig.get_supxlabel() == ""


def test_plot_needs_no_pyplot():
    """Importing the module and rendering a figure never loads pyplot (no global backend)."""
    code = ("import sys, pandas as pd\n"
            "from satsim.report.plots import plot_pareto\n"
            "plot_pareto(pd.DataFrame({'a': [1.0, 2.0], 'b': [2.0, 1.0]}), 'a', 'b')\n"
            "print('matplotlib.pyplot' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "False"


# --- errors --------------------------------------------------------------------------------


def test_error_for_a_missing_column_names_it_and_lists_the_columns():
    """An unknown x, y or color: the message names it, suggests a near name, and lists
    metrics and config columns (not bookkeeping)."""
    with pytest.raises(SatsimError, match=r"no column 'cylces' for x \(did you mean 'cycles'"
                       ) as err:
        plot_pareto(sweep(), "cylces", "utilization")
    message = str(err.value)
    assert "metrics: cycles, seconds, utilization" in message
    assert "config: array.rows, array.cols, clock_mhz" in message
    assert "point_id" not in message and "host_seconds" not in message
    with pytest.raises(SatsimError, match="no column 'hue' for color"):
        plot_pareto(sweep(), "cycles", "utilization", color="hue")


def test_error_names_the_source_given_in_the_frame_attrs():
    """``frame.attrs["source"]`` (e.g. the sweep folder) starts the message."""
    frame = sweep()
    frame.attrs["source"] = "sweeps/resnet"
    with pytest.raises(SatsimError, match=r"^sweeps/resnet: no column 'nope' for y"):
        pareto_mask(frame, "cycles", "nope")


def test_error_for_a_non_numeric_axis():
    """x and y must be numbers: a string column is refused, with an example value."""
    with pytest.raises(SatsimError, match=r"sparsity: not numeric \(e\.g\. '.*'\)"):
        plot_pareto(sweep(), "cycles", "sparsity")


def test_error_when_no_point_can_be_drawn():
    """All failed, or a metric not modelled yet (all None): nothing to plot, and why."""
    frame = sweep(3)
    with pytest.raises(SatsimError, match=r"no successful points with both X \(cycles\) and "
                       r"Y \(energy_j\).*3 without cycles or energy_j"):
        plot_pareto(frame, "cycles", "energy_j")
    frame["status"] = "failed"
    with pytest.raises(SatsimError, match="no successful points.*3 failed"):
        plot_pareto(frame, "cycles", "seconds")
    with pytest.raises(SatsimError, match="no successful points.*empty"):
        plot_pareto(frame.iloc[:0], "cycles", "seconds")


def test_error_for_an_unknown_output_suffix_writes_nothing(tmp_path):
    """Only .png, .svg and .pdf: another suffix is named in the error, before any writing."""
    out = tmp_path / "front.jpg"
    with pytest.raises(SatsimError, match=r"unknown plot format '\.jpg'"):
        plot_pareto(sweep(), "cycles", "seconds", out=out)
    with pytest.raises(SatsimError, match=r"\(no suffix\)"):
        plot_pareto(sweep(), "cycles", "seconds", out=tmp_path / "front")
    assert list(tmp_path.iterdir()) == []


def test_error_for_an_unwritable_output_keeps_what_was_there(tmp_path):
    """A missing folder is a SatsimError; an existing file is replaced only when complete."""
    with pytest.raises(SatsimError, match="folder does not exist"):
        plot_pareto(sweep(), "cycles", "seconds", out=tmp_path / "no" / "front.png")
    out = tmp_path / "front.png"
    out.write_bytes(b"old")
    with pytest.raises(SatsimError):
        plot_pareto(sweep(), "cycles", "nope", out=out)
    assert out.read_bytes() == b"old"


def test_error_for_too_many_colour_categories():
    """More values than a legend can tell apart (e.g. point_id) is refused, not smeared."""
    with pytest.raises(SatsimError, match="point_id: colour column has 24 distinct values"):
        plot_pareto(sweep(), "cycles", "seconds", color="point_id")


def test_plot_accepts_nullable_integers_and_shows_missing_colours_apart():
    """Sweep frames keep integers nullable (Int64): NA counts as missing in x, and a missing
    colour value gets its own grey "(missing)" legend entry, listed last."""
    frame = pd.DataFrame({"cycles": pd.array([5, 3, None, 1], dtype="Int64"),
                          "array.rows": pd.array([8, None, 16, 8], dtype="Int64"),
                          "utilization": [0.1, 0.2, 0.3, 0.4]})
    fig = plot_pareto(frame, "cycles", "utilization", color="array.rows")
    assert legend_texts(fig) == ["8", "(missing)", "Pareto front (3 of 3 points)"]
    assert fig.get_suptitle() == (
        "3 design points\n(1 without cycles or utilization: not shown)")


def test_plot_of_a_real_sweep_names_it_and_says_its_energy_is_priced(tmp_path):
    """Time against energy over a sweep's folder (load_results): the title names the sweep
    and its workload, the axes read ms or µs and mJ or µJ, and the energy is 'priced' (the
    45 nm table leaves static power of the SORE, the buffers and the DRAM n/a)."""
    import yaml

    from satsim.sweep import load_results, run_sweep

    (tmp_path / "gemms.csv").write_text("name,M,K,N,sparsity\nfc,256,512,256,2:8\n")
    spec = tmp_path / "tiny.yaml"
    spec.write_text(yaml.safe_dump({"name": "tiny", "workloads": ["gemms.csv"],
                                    "axes": [{"path": "array.rows", "values": [16, 32]}]}))
    run_sweep(spec, tmp_path / "out", workers=1)
    frame = load_results(tmp_path / "out")
    assert frame.attrs["sweep"] == "tiny" and not frame["energy_complete"].any()
    fig = plot_pareto(frame, "seconds", "energy_j", color="array.rows",
                      out=tmp_path / "front.png")
    ax = fig.axes[0]
    assert fig.get_suptitle() == "sweep tiny: gemms.csv, 2 design points"
    assert re.fullmatch(r"time per iteration \((ms|µs)\) — lower is better", ax.get_xlabel())
    assert re.fullmatch(r"priced energy per iteration \((mJ|µJ)\) — lower is better",
                        ax.get_ylabel())
    assert "static power of SORE" in fig.get_supxlabel()
    assert (tmp_path / "front.png").read_bytes().startswith(b"\x89PNG")


def test_a_colour_value_with_a_non_ascii_digit_sorts_as_text():
    """Legend entries sort with their ASCII digits as numbers ("x9" before "x10"); a
    superscript or Arabic-Indic digit is text, never a number int() fails on."""
    frame = pd.DataFrame({"cycles": [1, 2, 3, 4], "seconds": [4.0, 3.0, 2.0, 1.0],
                          "tag": ["x10", "²", "x9", "x٣"]})
    fig = plot_pareto(frame, "cycles", "seconds", color="tag")
    assert legend_texts(fig)[:4] == ["x9", "x10", "x٣", "²"]
