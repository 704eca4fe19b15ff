"""``satsim report RESULT --out DIR``: one self-contained HTML page of a run.

The page (``DIR/index.html``) holds everything: inline CSS, the figures of
:mod:`satsim.report.figures` as PNG data URIs, the tables (totals, per phase, per unit,
buffers, energy per unit), what was modelled and what was not (the run's ``scope``, the
energy terms not priced, the warnings) and the provenance. No scripts, no external files or
links to fetch: it opens from disk in any browser, and the same input gives the same bytes.
It is written atomically (a temporary renamed over the page), so a failed run never leaves a
partial page that looks complete.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path

from satsim.energy.breakdown import EVERY_TERM
from satsim.errors import SatsimError
from satsim.files import write_text
from satsim.report.canvas import figure_bytes
from satsim.report.documents import COMPARE, load_input, run_title
from satsim.report.energy_figures import energy_coverage
from satsim.report.figures import KINDS
from satsim.report.result import IDLE_CAUSES, IDLE_STALLS, PHASES
from satsim.report.summary import energy_name, energy_total
from satsim.report.time_figures import UNIT_NAMES

_CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       margin: 0 auto; max-width: 1000px; padding: 1.5em; color: #1b1b1b; background: #fff; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.15em; margin-top: 1.8em; border-bottom: 1px solid #ddd; }
p.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #e4e4e4; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f4f4f4; }
td.na { color: #999; font-style: italic; }
figure { display: inline-block; margin: 0.6em 1em 0.6em 0; vertical-align: top; }
figure img { width: 100%; height: auto; border: 1px solid #eee; }
figure.single { width: 440px; max-width: 100%; }
figure.double { width: 920px; max-width: 100%; }
figcaption { font-size: 0.85em; color: #444; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.8em; }
.warn { color: #8a4b00; }
"""

_CAPTIONS = {
    "breakdown": "Busy cycles of each unit, stacked by phase; the dashed line is the "
                 "iteration. Units work concurrently, so their bars add up to more than it.",
    "energy": "Energy per phase, stacked by unit (each op's action counts times the run's "
              "prices; static: the iteration's static energy). Legend: each unit's total; "
              "n/a: not priced (never 0).",
    "utilization": "Left: the share of the iteration each unit was busy. Right: the array's "
                   "MAC utilization while busy (executed MACs / (busy cycles x PEs)) per "
                   "layer and GEMM phase.",
    "roofline": "Per GEMM: executed MACs per DRAM byte against executed MACs per second of "
                "the op's time (end - start), under the array's peak (rows x cols x clock) "
                "and the DRAM bandwidth line.",
    "speedup": "Speedup over dense training on the same machine, per model and method; "
               "the bar's line is the method's uniform bound, the diamond the trace's "
               "MAC-proportional ideal.",
}
_WIDE = {"utilization"}
_STALLS_NOTE = (
    "Stalls DRAM, dep, mask and buffer are cycles the phase's unit sat idle before or "
    "during an op's work (waiting for the memory system, for inputs other ops write, for "
    "masks the SORE writes, for buffer ports), each cycle counted once: per unit they add up "
    "to at most its idle cycles (below). Queued is different: each op's wait, inputs ready, "
    "for its unit to finish earlier ops, summed over ops. Ops queue at the same time, so it "
    "counts op-cycles and can exceed the iteration many times over; it is not idle time.")


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: object, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}g}" if abs(value) < 1e6 else f"{value:,.0f}"
    return str(value)


def _table(header: list[str], rows: list[list[object]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = []
        for cell in row:
            text = _num(cell)
            cls = ' class="na"' if text == "n/a" else ""
            cells.append(f"<td{cls}>{_esc(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure_html(kind: str, doc: dict, source: str) -> str:
    """The figure as an embedded PNG, or a note saying why there is none."""
    try:
        fig = KINDS[kind].draw(doc, source)
    except SatsimError as exc:
        reason = str(exc).removeprefix(f"{source}: ").removeprefix(f"{exc.field}: ")
        return f'<p class="warn">No {_esc(kind)} figure: {_esc(reason)}</p>'
    data = base64.b64encode(figure_bytes(fig, "png", dpi=200)).decode("ascii")
    size = "double" if kind in _WIDE else "single"
    return (f'<figure class="{size}"><img alt="{_esc(kind)} figure" '
            f'src="data:image/png;base64,{data}"><figcaption><b>{_esc(kind)}.</b> '
            f"{_esc(_CAPTIONS[kind])}</figcaption></figure>")


def _list(items: list[str]) -> str:
    return "<ul>" + "".join(f"<li>{_esc(i)}</li>" for i in items) + "</ul>"


def run_page(doc: dict, source: str) -> str:
    """The HTML page of a ``satsim run --json`` document."""
    mhz = doc.get("clock_mhz") or 0
    parts = [f"<h1>{_esc(run_title(doc))}</h1>",
             f'<p class="sub">dataflow {_esc(doc.get("dataflow", "?"))}, memory '
             f'{_esc(doc.get("memory", "?"))}; from {_esc(Path(source).name)}, satsim '
             f'{_esc(doc.get("satsim_version", "?"))}</p>']
    totals = [["cycles per iteration", doc.get("cycles"), "cycles"],
              ["time per iteration", 1e3 * doc["seconds"] if "seconds" in doc else None, "ms"],
              ["compute-only cycles (ideal memory)", doc.get("compute_only_cycles"), "cycles"],
              ["executed MACs", doc.get("macs"), "MACs"],
              ["dense MACs", doc.get("dense_macs"), "MACs"],
              ["array utilization", doc.get("utilization"), "fraction of MAC slots"],
              [energy_name(energy_coverage(doc) in (None, EVERY_TERM)), doc.get("energy_j"),
               "J"],
              ["DRAM read", doc.get("dram_read_bytes"), "bytes"],
              ["DRAM written", doc.get("dram_write_bytes"), "bytes"]]
    if doc.get("dense_cycles") is not None:
        totals += [["dense twin's cycles", doc.get("dense_cycles"), "cycles"],
                   ["speedup over dense", doc.get("speedup"), "x"]]
        bounds = doc.get("bounds") or {}
        totals += [["uniform bound", bounds.get("uniform"), "x"],
                   ["MAC-proportional ideal", bounds.get("mac_proportional"), "x"]]
        if doc.get("dense_energy_j") is not None:
            complete = doc.get("dense_energy_coverage") == EVERY_TERM
            totals.append([f"dense twin's {energy_name(complete)}", doc["dense_energy_j"], "J"])
    parts += ["<h2>Totals</h2>", _table(["quantity", "value", "unit"], totals)]

    parts.append("<h2>Figures</h2>")
    for kind in ("breakdown", "roofline", "energy", "utilization"):
        parts.append(_figure_html(kind, doc, source))

    phases = doc.get("phases", {})
    rows = []
    for phase in [p for p in PHASES if p in phases] + [p for p in phases if p not in PHASES]:
        t = phases[phase]
        rows.append([phase, t.get("unit"), t.get("ops"), t.get("busy_cycles"),
                     t["busy_cycles"] / (mhz * 1e3) if mhz else None, t.get("macs"),
                     *(t.get(f"stall_{cause}") for cause in IDLE_STALLS),
                     t.get("stall_unit"), t.get("dram_read_bytes"), t.get("dram_write_bytes")])
    parts += ["<h2>Per phase</h2>",
              _table(["phase", "unit", "ops", "busy (cycles)", "busy (ms)", "MACs",
                      *(f"{IDLE_CAUSES[cause]} (cycles)" for cause in IDLE_STALLS),
                      "queued (op-cycles)", "DRAM read (bytes)", "DRAM written (bytes)"], rows),
              f"<p>{_esc(_STALLS_NOTE)}</p>"]
    units = doc.get("units", {})
    parts += ["<h2>Per unit</h2>",
              _table(["unit", "busy (cycles)", "busy share of iteration", "idle (cycles)",
                      *(f"idle: {name}" for name in IDLE_CAUSES.values())],
                     [[UNIT_NAMES.get(u, u), v.get("busy_cycles"), v.get("utilization"),
                       v.get("idle_cycles"),
                       *((v.get("idle_by_cause") or {}).get(c, "-") for c in IDLE_CAUSES)]
                      for u, v in units.items()]),
              "<p>Each unit: busy + idle = the iteration's cycles; idle = the unit's stalls "
              "(summed over its ops) + the cycles after its last op. The DMA's idle cycles "
              "belong to no op (-).</p>"]
    buffers = doc.get("buffers", {})
    if buffers:
        parts += ["<h2>Buffers</h2>",
                  _table(["buffer", "capacity (bytes)", "peak (bytes)"],
                         [[b, v.get("capacity_bytes"), v.get("peak_bytes")]
                          for b, v in buffers.items()])]
    parts.append("<h2>Energy</h2>")
    energy = doc.get("energy")
    if energy is None:
        parts.append("<p>Not modelled: the hardware names no energy table (run with "
                     "<code>--set energy=asic-45nm</code>).</p>")
    else:
        by_unit = energy.get("by_unit", {})
        static = energy.get("static", {})
        bound = "" if energy_coverage(doc) == EVERY_TERM else (
            ": a lower bound, not the iteration's energy (the terms not priced are listed "
            "under what was not modelled)")
        lead = energy_total(doc.get("energy_j"), energy_coverage(doc), ".3g")
        dense = doc.get("dense_energy_coverage")  # None: no dense twin, or an older file
        twin = "" if dense is None else (
            f" Dense twin: {energy_total(doc.get('dense_energy_j'), dense, '.3g')}.")
        parts.append(f"<p><b>{_esc(lead)}</b>{_esc(bound)}; table "
                     f"<code>{_esc(energy.get('table'))}</code>. n/a: every term of it "
                     f"unpriced (never 0).{_esc(twin)}</p>")
        parts.append(_table(["unit", "energy (J)", "of which static (J)"],
                            [[u, by_unit[u], static.get(u)] for u in by_unit]))

    parts.append("<h2>What was modelled, and what was not</h2>")
    scope = doc.get("scope", {})
    parts.append("<p>Timed:</p>" + _list(list(scope.get("timed", []))))
    if scope.get("memory"):
        parts.append(f"<p>Memory: {_esc(scope['memory'])}</p>")
    not_timed = scope.get("not_timed") or {}
    parts.append("<p>Not timed:</p>" + (_list([f"{k}: {v}" for k, v in not_timed.items()])
                                        if not_timed else "<p>nothing (every record timed)"
                                        "</p>"))
    no_effect = scope.get("no_effect") or {}
    if no_effect:
        parts.append("<p>Config fields with no effect in this run:</p>"
                     + _list([f"{k}: {v}" for k, v in no_effect.items()]))
    if energy is not None and energy.get("excluded"):
        why = energy.get("excluded_why", {})
        parts.append("<p>Energy terms not priced (n/a):</p>"
                     + _list([f"{t}: {why.get(t, 'not in the table')}"
                              for t in energy["excluded"]]))
    if scope.get("graph"):
        parts.append(f"<p>Dependencies: {_esc(scope['graph'])}</p>")
    sparse = doc.get("sparse_layers")
    if sparse:
        dense = sparse.get("dense") or {}
        parts.append(f"<p>Sparse layers: {_esc(sparse.get('sparse'))} of "
                     f"{_esc(sparse.get('weight_layers'))} weight layers "
                     f"({_esc(_num(100 * sparse.get('sparse_mac_fraction', 0), 4))}% of their "
                     "MACs)" + ("; dense: " + _esc(", ".join(f"{k} ({v})" for k, v in
                                                              dense.items())) if dense else "")
                     + "</p>")
    bounds = doc.get("bounds") or {}
    if bounds.get("differences") or bounds.get("array_effects"):
        parts.append("<p>Why the speedup differs from its bounds:</p>"
                     + _list([*bounds.get("differences", []),
                              *([bounds["array_effects"]] if bounds.get("array_effects")
                                else [])]))
    warnings = doc.get("warnings") or []
    parts.append("<h2>Warnings</h2>" + (_list(warnings) if warnings else "<p>none</p>"))
    provenance = {k: doc.get(k) for k in ("satsim_version", "overrides", "method_option",
                                          "sparsity_option", "workload_file",
                                          "hardware_config", "dataflow_config")}
    parts += ["<h2>Provenance</h2>",
              f"<pre>{_esc(json.dumps(provenance, indent=2, sort_keys=False))}</pre>"]
    return _page(run_title(doc), parts)


def compare_page(doc: dict, source: str) -> str:
    """The HTML page of a ``satsim compare --json`` document."""
    title = (f"dense vs SR-STE vs BDWP {doc.get('sparsity', '')} on "
             f"{doc.get('hardware', '?')}")
    parts = [f"<h1>{_esc(title)}</h1>",
             f'<p class="sub">dataflow {_esc(doc.get("dataflow", "?"))}, clock '
             f'{_esc(doc.get("clock_mhz"))} MHz; from {_esc(Path(source).name)}</p>',
             _figure_html("speedup", doc, source)]
    rows = []
    for row in doc.get("models", []):
        s, b = row.get("srste", {}), row.get("bdwp", {})
        rows.append([row.get("model"), row.get("dense_cycles"), s.get("cycles"),
                     b.get("cycles"), s.get("speedup"), s.get("uniform"), s.get("mac_ideal"),
                     b.get("speedup"), b.get("uniform"), b.get("mac_ideal"),
                     "; ".join(row.get("checks", [])) or "ok"])
    mean = doc.get("mean_speedup", {})
    rows.append(["mean", "", "", "", mean.get("srste"), "", "", mean.get("bdwp"), "", "", ""])
    parts += ["<h2>Per model</h2>",
              _table(["model", "dense (cycles)", "SR-STE (cycles)", "BDWP (cycles)",
                      "SR-STE (x)", "bound (x)", "ideal (x)", "BDWP (x)", "bound (x)",
                      "ideal (x)", "checks"], rows)]
    if doc.get("paper_mean_bdwp") is not None:
        parts.append(f"<p>SAT paper (Fang et al., TCAD 2023): BDWP 2:8 trains "
                     f"{_esc(doc['paper_mean_bdwp'])}x faster than dense on average over "
                     "these models.</p>")
    return _page(title, parts)


def _page(title: str, parts: list[str]) -> str:
    body = "\n".join(parts)
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>satsim: {_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
            f"<body>\n{body}\n</body>\n</html>\n")


def write_report(result: str | Path, out: str | Path) -> Path:
    """Write ``out/index.html`` for the run (or comparison) JSON ``result``.

    Returns
    -------
    pathlib.Path
        The page written.

    Raises
    ------
    SatsimError
        ``result`` unreadable or not a run or comparison; ``out`` not a folder or not
        creatable.
    """
    what, doc = load_input(result)  # before touching the output folder
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise SatsimError("is a file, expected a folder", source=out)
    page_html = compare_page(doc, str(result)) if what == COMPARE else run_page(doc,
                                                                               str(result))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SatsimError(f"cannot create the folder: {exc.strerror}", source=out) from None
    return write_text(folder / "index.html", page_html)
