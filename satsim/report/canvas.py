"""The canvas of satsim's figures: paper size and style, and files with the same bytes for
the same figure.

Figures are drawn on matplotlib's ``Agg`` canvas directly, never through ``pyplot``: no global
backend switch, no figure registry, so this works headless, in worker processes and beside a
user's own interactive plots. Fonts are at least 7 pt at print size; files carry no dates and
fixed SVG ids (deterministic bytes).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from satsim.errors import SatsimError
from satsim.files import write_atomic

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SINGLE = (3.5, 2.6)  # one paper column, inches
DOUBLE = (7.0, 3.0)  # two columns
# Fonts at least 7 pt at print size; the same everywhere.
STYLE = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "xtick.labelsize": 7,
         "ytick.labelsize": 7, "legend.fontsize": 7, "legend.title_fontsize": 7,
         "axes.linewidth": 0.6, "xtick.major.width": 0.6, "ytick.major.width": 0.6,
         "grid.linewidth": 0.4, "svg.hashsalt": "satsim", "svg.fonttype": "path",
         "pdf.fonttype": 42}

_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
# Without these the output embeds the time of writing: same data, different bytes.
_NO_DATE = {"png": None, "svg": {"Date": None}, "pdf": {"CreationDate": None}}


def format_of(out: str | Path) -> str:
    """The image format ``out``'s suffix names; an error naming the file otherwise."""
    fmt = _FORMATS.get(Path(out).suffix.lower())
    if fmt is None:
        raise SatsimError(f"unknown plot format {Path(out).suffix or '(no suffix)'!r}: "
                          f"use one of {', '.join(_FORMATS)}", source=out)
    return fmt


@contextmanager
def paper_style():
    """Draw (and write) in :data:`STYLE`."""
    import matplotlib

    with matplotlib.rc_context(STYLE):
        yield


def new_figure(size: tuple[float, float]) -> Figure:
    """A figure of ``size`` inches on its own Agg canvas, laid out to fit."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def figure_bytes(fig: Figure, fmt: str, dpi: int = 300) -> bytes:
    """The figure encoded as ``png``, ``svg`` or ``pdf``, the same bytes for the same
    figure."""
    import io

    handle = io.BytesIO()
    with paper_style():
        fig.savefig(handle, format=fmt, metadata=_NO_DATE[fmt], dpi=dpi)
    return handle.getvalue()


def save(fig: Figure, out: str | Path) -> Path:
    """Write ``fig`` to ``out`` (format from its suffix), whole or not at all."""
    fmt = format_of(out)
    data = figure_bytes(fig, fmt)
    return write_atomic(out, lambda handle: handle.write(data))


def tag_bars(bars, name: str) -> None:
    """Name each bar ``name/i`` (its SVG id): tests and readers of the SVG find them."""
    for i, patch in enumerate(bars.patches):
        patch.set_gid(f"{name}/{i}")
