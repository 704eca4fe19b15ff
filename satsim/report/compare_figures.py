"""The figure of a comparison (``satsim compare --json``): speedup over dense training per
model and method, with each method's uniform bound and the trace's MAC-proportional ideal."""

from __future__ import annotations

from typing import TYPE_CHECKING

from satsim.errors import SatsimError
from satsim.report.canvas import SINGLE, new_figure, paper_style, tag_bars
from satsim.report.documents import need

if TYPE_CHECKING:
    from matplotlib.figure import Figure

METHOD_COLOURS = {"srste": "#DD8452", "bdwp": "#4C72B0"}
METHOD_NAMES = {"srste": "SR-STE", "bdwp": "BDWP"}


def speedup_figure(doc: dict, source: str = "compare result") -> Figure:
    """Speedup over dense per model: a bar per model and method, the method's uniform bound
    (a line over the bar) and the MAC-proportional ideal of the trace (a diamond)."""
    models = need(doc, source, "models")
    if not models:
        raise SatsimError("no models to plot", source=source, field="models")
    methods = [m for m in ("srste", "bdwp") if all(m in row for row in models)]
    if not methods:
        raise SatsimError("no srste or bdwp results per model", source=source, field="models")
    names = [str(row.get("model", "?")) for row in models]
    with paper_style():
        fig = new_figure(SINGLE)
        ax = fig.add_subplot()
        width = 0.8 / len(methods)
        for j, method in enumerate(methods):
            xs = [i + (j - (len(methods) - 1) / 2) * width for i in range(len(models))]
            runs = [row[method] for row in models]
            tag_bars(ax.bar(xs, [r["speedup"] for r in runs], width * 0.92,
                        color=METHOD_COLOURS.get(method),
                        label=METHOD_NAMES.get(method, method), zorder=2), f"speedup-{method}")
            for x, r in zip(xs, runs, strict=True):
                if r.get("uniform") is not None:
                    ax.hlines(r["uniform"], x - width * 0.46, x + width * 0.46, colors="black",
                              linewidth=1.0, zorder=3)
                ax.plot([x], [r["mac_ideal"]], marker="D", markersize=2.8, color="black",
                        linestyle="none", zorder=4)
        ax.axhline(1.0, color="0.3", linewidth=0.6, zorder=1)
        paper = doc.get("paper_mean_bdwp")
        if paper is not None:
            ax.axhline(paper, color="0.3", linewidth=0.8, linestyle="--", zorder=1)
        # Legend entries for the marks (drawn once, as proxies).
        from matplotlib.lines import Line2D

        handles, labels = ax.get_legend_handles_labels()
        handles += [Line2D([], [], color="black", linewidth=1.0),
                    Line2D([], [], color="black", marker="D", markersize=2.8,
                           linestyle="none")]
        labels += ["uniform bound", "MAC ideal"]
        if paper is not None:
            handles.append(Line2D([], [], color="0.3", linewidth=0.8, linestyle="--"))
            labels.append(f"paper mean {paper:g}x")
        ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 1.0),
                  ncol=min(len(labels), 3), frameon=False, handlelength=1.5,
                  columnspacing=1.0)
        top = max([2.0] + [r[m]["uniform"] or 0 for r in models for m in methods]
                  + [r[m]["mac_ideal"] for r in models for m in methods])
        ax.set_ylim(0, top * 1.3)  # room for the legend above the bars
        ax.set_xticks(range(len(models)), [_short(n) for n in names], rotation=25,
                      ha="right", rotation_mode="anchor")
        ax.set_ylabel("speedup over dense (x)")
        ax.set_title(f"{doc.get('sparsity', '')} on {doc.get('hardware', '?')}, "
                     f"dataflow {doc.get('dataflow', '?')}")
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    return fig


def _short(model: str) -> str:
    """A model name for a tick label: the dataset suffix dropped (resnet18-cifar -> resnet18)."""
    for suffix in ("-cifar", "-imagenet"):
        if model.endswith(suffix):
            return model[: -len(suffix)]
    return model
