"""Plots of design-space sweep results: a Pareto front of two metrics over all design points.

A sweep's results are a tidy frame, one row per design point: config columns named by their
dotted config path (``array.rows``, ``clock_mhz``, ``sparsity``, ...), metric columns
(``cycles``, ``seconds``, ``utilization``, ``energy_j``, ...) and bookkeeping (``point_id``,
``status``, ``error``, ``host_*``). If ``frame.attrs["source"]`` is set (e.g. the sweep
folder), error messages name it.

Figures are drawn on :mod:`satsim.report.canvas` (matplotlib's ``Agg`` canvas directly, never
``pyplot``). This module is imported lazily (only ``satsim plot`` needs it).
"""

from __future__ import annotations

import difflib
import numbers
import re
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from satsim.energy.breakdown import EVERY_TERM
from satsim.errors import SatsimError
from satsim.report.canvas import format_of, new_figure, paper_style, save
from satsim.report.summary import METRICS, energy_name

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Axis labels of the known columns; anything else gets its unit from a suffix (below).
_LABELS = {
    "cycles": "cycles per iteration",
    "seconds": "time per iteration (s)",
    "utilization": "PE utilization (fraction of MAC slots)",
    "speedup": "speedup over dense training (x)",
    "energy_j": energy_name(True, "J"),
    "macs": "MACs per iteration",
    "dense_macs": "dense MACs per iteration",
    "dense_cycles": "dense-training cycles per iteration",
    "clock_mhz": "clock (MHz)",
    "array.rows": "array rows (PEs)",
    "array.cols": "array columns (PEs)",
    "sparsity": "N:M sparsity",
    "method": "training method",
}
_SUFFIX_UNITS = {"_cycles": "cycles", "_s": "s", "_j": "J", "_bytes": "bytes", "_mhz": "MHz",
                 "_kib": "KiB", "_gbps": "GB/s", "_w": "W"}
# The unit of each known column an axis rescales (other columns': from their suffix).
_KNOWN_UNITS = {"cycles": "cycles", "dense_cycles": "cycles", "seconds": "s", "energy_j": "J",
                "macs": "MACs", "dense_macs": "MACs"}
# Per unit, the scaled units an axis may use, largest first: the one that puts the largest
# value between 1 and 1000 is taken, so tick labels need neither an offset nor an exponent.
_SCALED = {
    "s": ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")),
    "J": ((1.0, "J"), (1e-3, "mJ"), (1e-6, "µJ"), (1e-9, "nJ")),
    "bytes": ((1e9, "GB"), (1e6, "MB"), (1e3, "kB"), (1.0, "bytes")),
    "cycles": ((1e9, "billion"), (1e6, "million"), (1e3, "thousand"), (1.0, "")),
    "MACs": ((1e9, "billion"), (1e6, "million"), (1e3, "thousand"), (1.0, "")),
}
_COUNTS = ("cycles", "MACs")  # scaled by a word: "cycles per iteration (millions)"

_BOOKKEEPING = {"point_id", "status", "error"}

_MAX_CATEGORIES = 20  # tab20's colours; more cannot be told apart in a legend
_FEW_VALUES = 8  # a numeric colour column with at most this many values gets a legend
_MISSING_COLOUR = "0.6"
# Every design point: opaque, a thin white rim to part neighbours, above the front's rings.
_POINT = {"s": 30, "alpha": 1.0, "edgecolors": "white", "linewidths": 0.5, "zorder": 3}
_LOG_RATIO = 100  # an axis whose positive values span this factor or more is drawn log


def label(column: str) -> str:
    """An axis label with its unit for a sweep column.

    Parameters
    ----------
    column
        A column name: a metric (``cycles``) or a dotted config path (``array.rows``).

    Returns
    -------
    str
        The label of a known column (``"time per iteration (s)"``); else the column name with
        the unit its suffix implies (``"dram_read (bytes)"`` for ``dram_read_bytes``); else the
        bare name.
    """
    if column in _LABELS:
        return _LABELS[column]
    for suffix, unit in _SUFFIX_UNITS.items():
        if column.endswith(suffix) and len(column) > len(suffix):
            return f"{column[: -len(suffix)]} ({unit})"
    return column


def pareto_mask(frame: pd.DataFrame, x: str, y: str, *, maximize_x: bool = False,
                maximize_y: bool = False) -> np.ndarray:
    """Which rows are on the Pareto front of ``x`` and ``y``.

    A row is dominated if another row is at least as good in both columns and strictly better
    in one. Exact duplicates of a front point are all on the front; rows with NaN (or None)
    in ``x`` or ``y`` never are. O(n log n): sort by x, sweep y.

    Parameters
    ----------
    frame
        One row per design point.
    x, y
        Numeric columns of ``frame``.
    maximize_x, maximize_y
        Higher is better for that column (default: lower is better).

    Returns
    -------
    numpy.ndarray
        Booleans aligned with ``frame``'s rows: True for non-dominated rows.

    Raises
    ------
    SatsimError
        A column is missing or not numeric.
    """
    _check_columns(frame, {"x": x, "y": y})
    xs, ys = _numeric(frame, x), _numeric(frame, y)
    # Negate to minimize both; -0.0 == 0.0, so ties stay ties.
    xs, ys = (-xs if maximize_x else xs), (-ys if maximize_y else ys)
    valid = np.flatnonzero(~(np.isnan(xs) | np.isnan(ys)))
    mask = np.zeros(len(frame), dtype=bool)
    if valid.size == 0:
        return mask
    order = valid[np.lexsort((valid, ys[valid], xs[valid]))]  # x, then y, then row: stable
    sx, sy = xs[order], ys[order]
    starts = np.flatnonzero(np.r_[True, sx[1:] != sx[:-1]])  # first row of each distinct x
    group = np.cumsum(np.r_[True, sx[1:] != sx[:-1]]) - 1
    group_best = sy[starts]  # lowest y at that x (sorted by y within x)
    # Lowest y over all strictly smaller x: a point at or above it is dominated.
    running = np.minimum.accumulate(sy)
    best_before = np.r_[np.inf, running[starts[1:] - 1]]
    front = (sy == group_best[group]) & (group_best[group] < best_before[group])
    mask[order] = front
    return mask


def axis_scale(column: str, values: np.ndarray, text: str | None = None) -> tuple[float, str]:
    """How an axis of ``column`` shows ``values``: the factor to divide them by and the label.

    A count, time, energy or size is shown in the scaled unit that puts its largest magnitude
    between 1 and 1000 (``"time per iteration (ms)"``, ``"cycles per iteration
    (millions)"``), so its tick labels need no offset or exponent; other columns keep their
    label (``text``, default :func:`label`) and a factor of 1.
    """
    unit = _KNOWN_UNITS.get(column) or next(
        (u for suffix, u in _SUFFIX_UNITS.items() if column.endswith(suffix)
         and len(column) > len(suffix) and u in _SCALED), None)
    finite = np.abs(values[np.isfinite(values)])
    text = label(column) if text is None else text
    if unit is None or not finite.size or finite.max() == 0:
        return 1.0, text
    largest = finite.max()
    factor, name = next(((f, n) for f, n in _SCALED[unit] if largest >= f), _SCALED[unit][-1])
    if factor == 1.0:
        return 1.0, text
    suffix = f"({unit})"
    if text.endswith(suffix):  # "stall (cycles)" -> "stall (million cycles)"
        return factor, text[: -len(suffix)] + (f"({name} {unit})" if unit in _COUNTS
                                               else f"({name})")
    return factor, f"{text} ({name}s)"  # "cycles per iteration" -> "... (millions)"


def plot_pareto(frame: pd.DataFrame, x: str, y: str, *, color: str | None = None,
                out: str | Path | None = None, maximize_x: bool = False,
                maximize_y: bool = False, title: str | None = None) -> Figure:
    """A scatter plot of every successful design point with its Pareto front highlighted.

    Parameters
    ----------
    frame
        Sweep results, one row per design point. Rows whose ``status`` (if that column
        exists) is not ``"ok"``, or with no ``x`` or ``y`` value, are left out (and counted
        under the title). ``frame.attrs["sweep"]`` (the sweep's name, which
        :func:`satsim.sweep.load_results` sets) and the ``workload`` column name the sweep in
        the default title.
    x, y
        Numeric columns for the axes. Times, energies, cycles, MACs and bytes are shown in
        the scaled unit that suits them (:func:`axis_scale`). Energy (``energy_j``) is called
        priced energy, with a footnote naming what it leaves out, when the
        ``energy_coverage`` column says not every term is priced.
    color
        A column to colour the points by: strings, booleans or a numeric column with few
        values get one legend entry per value; other numeric columns a colormap and colorbar.
    out
        If given, the figure is written there (atomically), in the format its suffix names:
        ``.png`` (300 dpi), ``.svg`` or ``.pdf``.
    maximize_x, maximize_y
        Higher is better for that column (default: lower is better); noted in the axis labels.
    title
        The title; default: the sweep, its workloads and the number of points.

    Returns
    -------
    matplotlib.figure.Figure
        The figure (on an Agg canvas; not registered with ``pyplot``).

    Raises
    ------
    SatsimError
        A column is missing, ``x`` or ``y`` is not numeric, no point has both values, the
        suffix of ``out`` is not a known format, or ``out`` cannot be written.
    """
    source = _source(frame)
    # Before any drawing: a typo should not cost the render.
    if out is not None:
        format_of(out)
    _check_columns(frame, {"x": x, "y": y, "color": color})
    xs, ys = _numeric(frame, x), _numeric(frame, y)

    ok = (frame["status"] == "ok").to_numpy(dtype=bool, na_value=False) \
        if "status" in frame.columns else np.ones(len(frame), dtype=bool)
    present = ~(np.isnan(xs) | np.isnan(ys))
    keep = ok & present
    notes = [f"{n} failed" for n in [int((~ok).sum())] if n]
    notes += [f"{n} without {x} or {y}" for n in [int((ok & ~present).sum())] if n]
    if not keep.any():
        why = "; ".join(notes) or "the frame is empty"
        raise SatsimError(f"no successful points with both X ({x}) and Y ({y}) to plot: "
                          f"{len(frame)} rows, {why}", source=source)

    points = frame.loc[keep].reset_index(drop=True)
    energy_note = _energy_note(points) if "energy_j" in (x, y) else None
    priced = {"energy_j": energy_name(False, "J")} if energy_note else {}
    (x_scale, x_label), (y_scale, y_label) = (axis_scale(x, xs[keep], priced.get(x)),
                                              axis_scale(y, ys[keep], priced.get(y)))
    px, py = xs[keep] / x_scale, ys[keep] / y_scale
    front = pareto_mask(points, x, y, maximize_x=maximize_x, maximize_y=maximize_y)

    from matplotlib.ticker import ScalarFormatter

    with paper_style():
        fig = new_figure((5.0, 3.4))
        ax = fig.add_subplot()
        numeric_colour = color is not None and not _is_categorical(points[color])
        if color is None:
            ax.scatter(px, py, color="tab:blue", label="design points", **_POINT)
        elif numeric_colour:
            _scatter_colormap(fig, ax, px, py, _numeric(points, color), color)
        else:
            _scatter_categories(ax, px, py, points[color], source, color)

        # The front in x order, as the staircase bounding the region it dominates: the corner
        # between two front points lies on the worse side of y (steps-post when x is
        # minimized). Beneath the points, its rings wider than them: their colours show.
        order = np.lexsort((py[front], px[front]))
        fx, fy = px[front][order], py[front][order]
        ax.plot(fx, fy, drawstyle="steps-pre" if maximize_x else "steps-post", color="black",
                linewidth=0.8, marker="o", markersize=11, markerfacecolor="none",
                markeredgewidth=1.0, zorder=2,
                label=f"Pareto front ({len(fx)} of {len(points)} points)")

        # Sweeps of array size or sparsity span decades: on a linear axis most points would
        # crowd into one corner.
        for axis, values, set_scale in ((ax.xaxis, px, ax.set_xscale),
                                        (ax.yaxis, py, ax.set_yscale)):
            if _spans_decades(values):
                set_scale("log")
            else:
                axis.set_major_formatter(ScalarFormatter(useOffset=False))
        ax.set_xlabel(f"{x_label} — {_direction(maximize_x)}")
        ax.set_ylabel(f"{y_label} — {_direction(maximize_y)}")
        heading = _default_title(frame, len(points)) if title is None else title
        fig.suptitle(heading + (f"\n({', '.join(notes)}: not shown)" if notes else ""))
        if energy_note:  # a footnote, under the x axis's label
            fig.supxlabel("\n".join(textwrap.wrap(f"Energy: {energy_note}.", 90)),
                          fontsize="small", color="0.25")
        ax.grid(True, alpha=0.3)
        ax.set_axisbelow(True)
        if numeric_colour:  # the colorbar explains the colours: only the front needs a key
            ax.legend(loc="best", framealpha=0.9)
        else:  # beside the axes, not over the points (which may fill the whole plot area)
            legend = ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1),
                               title=None if color is None else label(color), frameon=False)
            legend.get_title().set_horizontalalignment("left")

        if out is not None:
            save(fig, out)
    return fig


def _default_title(frame: pd.DataFrame, count: int) -> str:
    """``"<sweep>: <workloads>, <N> design points"``, with what the frame names of the two."""
    sweep = frame.attrs.get("sweep")
    workloads = []
    if "workload" in frame.columns:
        workloads = sorted({str(w) for w in frame["workload"].dropna()}, key=_natural_key)
    what = ", ".join(workloads) if len(workloads) <= 3 else f"{len(workloads)} workloads"
    body = ", ".join(part for part in (what, f"{count} design points") if part)
    return f"sweep {sweep}: {body}" if sweep else body


def _energy_note(points: pd.DataFrame) -> str | None:
    """What the plotted energies leave out (None: every term priced, or not known)."""
    if "energy_coverage" not in points.columns:
        return None
    covers = {str(c) for c in points["energy_coverage"].dropna()} - {EVERY_TERM}
    if not covers:
        return None
    if len(covers) == 1:
        return f"priced terms only ({covers.pop()})"
    return "priced terms only (which terms are n/a differs between points: energy_coverage)"


def _spans_decades(values: np.ndarray) -> bool:
    """All positive and the largest at least 100x the smallest: better read on a log axis."""
    return bool(values.size) and values.min() > 0 and values.max() >= _LOG_RATIO * values.min()


def _direction(maximize: bool) -> str:
    return "higher is better" if maximize else "lower is better"


def _source(frame: pd.DataFrame) -> str:
    return str(frame.attrs.get("source") or "sweep results")


def _check_columns(frame: pd.DataFrame, wanted: dict[str, str | None]) -> None:
    """Each named column exists; else an error listing what does."""
    for role, column in wanted.items():
        if column is None or column in frame.columns:
            continue
        names = [str(c) for c in frame.columns]
        close = difflib.get_close_matches(str(column), names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise SatsimError(f"no column {column!r} for {role}{hint}; {_describe(names)}",
                          source=_source(frame))


def _describe(names: list[str]) -> str:
    """The usable columns, metrics apart from config."""
    usable = [n for n in names if n not in _BOOKKEEPING and not n.startswith("host_")]
    metrics = [n for n in usable if n in METRICS]
    config = [n for n in usable if n not in metrics]
    return (f"metrics: {', '.join(metrics) or '(none)'}; "
            f"config: {', '.join(config) or '(none)'}")


def _numeric(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A column as floats (None and NA as NaN); an error if it holds anything but numbers."""
    series = frame[column]
    if pd.api.types.is_bool_dtype(series) or (pd.api.types.is_numeric_dtype(series)
                                              and not pd.api.types.is_complex_dtype(series)):
        return series.to_numpy(dtype=float, na_value=np.nan)
    # An object column of numbers and None: e.g. energy_j before energy is modelled.
    values = series.dropna()
    bad = [v for v in values if not isinstance(v, numbers.Real)]
    if bad or series.dtype != object:
        example = f" (e.g. {bad[0]!r})" if bad else ""
        raise SatsimError(f"not numeric{example}: X and Y must be numeric columns; "
                          f"{_describe([str(c) for c in frame.columns])}",
                          source=_source(frame), field=column)
    return series.to_numpy(dtype=float, na_value=np.nan)


def _is_categorical(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return True
    numeric = pd.api.types.is_numeric_dtype(series) or (
        series.dtype == object
        and all(isinstance(v, numbers.Real) and not isinstance(v, bool)
                for v in series.dropna()))
    return not numeric or series.nunique(dropna=True) <= _FEW_VALUES


def _natural_key(value: object) -> tuple:
    """Numbers by value, text with its digits as numbers: "1:4" before "1:16" before "dense"."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return (0, float(value), "")
    parts = re.split(r"([0-9]+)", str(value))  # odd parts: ASCII digits ("²" is no number)
    return (1, 0.0, tuple((0, int(p), "") if i % 2 else (1, 0, p) for i, p in enumerate(parts)))


def _category_name(value: object) -> str:
    return f"{value:g}" if isinstance(value, float | np.floating) else str(value)


def _scatter_categories(ax: Axes, xs: np.ndarray, ys: np.ndarray, values: pd.Series,
                        source: str, column: str) -> None:
    """One colour and legend entry per value; missing values in grey, last."""
    from matplotlib import colormaps

    missing = values.isna().to_numpy()
    categories = sorted(set(values[~missing].tolist()), key=_natural_key)
    if len(categories) > _MAX_CATEGORIES:
        raise SatsimError(f"colour column has {len(categories)} distinct values; at most "
                          f"{_MAX_CATEGORIES} can be told apart in a legend",
                          source=source, field=column)
    palette = colormaps["tab10" if len(categories) <= 10 else "tab20"]
    codes = {category: index for index, category in enumerate(categories)}
    code = np.array([-1 if gone else codes[v] for v, gone in zip(values, missing, strict=True)])
    for index, category in enumerate(categories):
        rows = code == index
        ax.scatter(xs[rows], ys[rows], color=palette(index), label=_category_name(category),
                   **_POINT)
    if missing.any():
        ax.scatter(xs[missing], ys[missing], color=_MISSING_COLOUR, label="(missing)", **_POINT)


def _scatter_colormap(fig: Figure, ax: Axes, xs: np.ndarray, ys: np.ndarray,
                      values: np.ndarray, column: str) -> None:
    """A viridis colour scale with a labelled colorbar; missing values in grey."""
    missing = np.isnan(values)
    shown = ax.scatter(xs[~missing], ys[~missing], c=values[~missing], cmap="viridis",
                       **_POINT)
    if missing.any():
        ax.scatter(xs[missing], ys[missing], color=_MISSING_COLOUR, label=f"no {column}",
                   **_POINT)
    fig.colorbar(shown, ax=ax, label=label(column))
