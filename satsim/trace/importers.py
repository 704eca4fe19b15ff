"""Forward-only workloads from CSV files users already have.

Columns are read by their header names, never by position; the names are matched
case-insensitively with spaces collapsed (UTF-8 BOM and no-break spaces, as Excel writes them,
are fine; a header without commas but with tabs makes a tab-separated file).

* SCALE-Sim conv topology: ``Layer name, IFMAP Height, IFMAP Width, Filter Height,
  Filter Width, Channels, Num Filter, Strides`` (or ``Stride Height`` and ``Stride Width``),
  optionally ``Sparsity`` (``N:M``), ``Batch Size`` and SCALE-Sim's ``Eh, Ew, e2`` output-size
  annotations (checked against the sizes computed). Valid convolution: SCALE-Sim has no padding
  column and expects the padded IFMAP size; it counts a last partial window
  (``ceil((IFMAP - Filter) / Stride) + 1`` outputs), recorded here as the smallest symmetric
  padding that gives the same output size. A name containing ``DP`` is depthwise (SCALE-Sim's
  rule): one group per channel.
* GEMM: SCALE-Sim's ``Layer, M, N, K[, Sparsity]`` or plain ``name, M, K, N[, sparsity]`` --
  the same columns by name; K is the reduction dimension.

Trailing commas are optional; blank rows are skipped; a sparsity of ``1:1`` (SCALE-Sim's
default) means dense. A column with no header name may hold only blanks or ``#`` comments,
and a ``#`` cell in an optional column (SCALE-Sim's ``#dw`` notes) is a comment read as blank
(both recorded in the header meta as ``ignored_columns``); any other unknown column, a duplicate,
a missing or malformed value is a :class:`SatsimError` naming the file, the line and the
column. See ``docs/scalesim.md``.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from satsim.errors import SatsimError
from satsim.machine.scalesim import scalesim_conv_gemm, scalesim_output_size
from satsim.trace.schema import ConvParams, GemmOp, Trace, TraceHeader
from satsim.types import NMPattern, Phase

# Normalised header text -> field. Spellings are those of SCALE-Sim's shipped topologies and
# of its own topology writer (``Stride height, Stride width``).
_FIELDS = {
    "layer name": "name", "layer": "name", "name": "name", "l": "name",
    "ifmap height": "ifmap_h", "ifmap width": "ifmap_w",
    "filter height": "filter_h", "filter width": "filter_w",
    "channels": "channels", "channel": "channels",
    "num filter": "filters", "num filters": "filters",
    "strides": "stride", "stride": "stride",
    "stride height": "stride_h", "stride width": "stride_w",
    "batch size": "batch", "sparsity": "sparsity",
    "eh": "ofmap_h", "ew": "ofmap_w", "e2": "ofmap_px",
    "m": "M", "n": "N", "k": "K",
}
# Field -> the name an error message uses when the header lacks the column.
_CANONICAL = {
    "name": "Layer name", "ifmap_h": "IFMAP Height", "ifmap_w": "IFMAP Width",
    "filter_h": "Filter Height", "filter_w": "Filter Width", "channels": "Channels",
    "filters": "Num Filter", "stride": "Strides", "stride_h": "Stride Height",
    "stride_w": "Stride Width", "batch": "Batch Size", "sparsity": "Sparsity",
    "ofmap_h": "Eh", "ofmap_w": "Ew", "ofmap_px": "e2", "M": "M", "N": "N", "K": "K",
}
_CONV = ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "filters")
_GEMM = ("M", "N", "K")
_DIGITS = re.compile(r"[0-9]+")
_OPTIONAL = ("sparsity", "batch", "ofmap_h", "ofmap_w", "ofmap_px")  # an absent cell: default
_CONV_ONLY = (*_CONV, "stride", "stride_h", "stride_w", "batch", "ofmap_h", "ofmap_w",
              "ofmap_px")


def _norm(cell: str) -> str:
    return " ".join(cell.replace("\xa0", " ").split()).lower()


def _lines(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank rows with their line numbers; cells stripped, every cell kept."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        raise SatsimError(f"cannot read: {exc.strerror}", source=path) from None
    except UnicodeDecodeError as exc:
        raise SatsimError(f"not UTF-8 text (byte {exc.start})", source=path) from None
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    first = next((line for line in lines if line.strip()), "")
    delimiter = "\t" if "," not in first and "\t" in first else ","
    rows = []
    for number, line in enumerate(lines, start=1):
        try:  # line by line, so that errors can name the physical line
            cells = [c.replace("\xa0", " ").strip()
                     for c in next(csv.reader([line], delimiter=delimiter, strict=True), [])]
        except csv.Error as exc:
            raise SatsimError(f"malformed CSV: {exc}", source=path,
                              field=f"line {number}") from None
        if any(cells):
            rows.append((number, cells))
    return rows


@dataclass
class _Header:
    """Where each field's column is, and what the header line said."""

    form: str
    index: dict[str, int]
    text: dict[str, str]
    unnamed: set[int]
    width: int
    renamed: list[str] = field(default_factory=list)

    def show(self, name: str) -> str:
        return self.text.get(name) or _CANONICAL[name]


def _header(path: Path, number: int, cells: list[str]) -> _Header:
    line = f"line {number}"
    index: dict[str, int] = {}
    text: dict[str, str] = {}
    unnamed: set[int] = set()
    unknown: list[tuple[int, str]] = []
    renamed: list[str] = []
    for i, cell in enumerate(cells):
        key = _norm(cell)
        if not key:
            unnamed.add(i)
            continue
        name = _FIELDS.get(key)
        if name is None:
            unknown.append((i, cell))
            continue
        if name in index:
            # SCALE-Sim's DeepBench files say "Layer, IFMAP Width, IFMAP Width": SCALE-Sim reads
            # columns 2-8 by position, so the first of the two is the height.
            if name == "ifmap_w" and index[name] == 1 and i == 2 and "ifmap_h" not in index:
                renamed.append(f"column 2 {cells[1]!r} read as 'IFMAP Height' (SCALE-Sim reads "
                               "the first 8 columns by position)")
                index["ifmap_h"], text["ifmap_h"] = 1, "IFMAP Height"
            else:
                raise SatsimError(f"column {cell!r} appears twice (columns {index[name] + 1} "
                                  f"and {i + 1})", source=path, field=line)
        index[name], text[name] = i, cell
    conv, gemm = any(f in index for f in _CONV), any(f in index for f in _GEMM)
    if conv == gemm or "name" not in index:
        what = "mixes conv and GEMM columns" if conv and gemm else "unrecognised CSV header"
        raise SatsimError(
            f"{what}: expected 'name,M,K,N[,sparsity]', SCALE-Sim's 'Layer, M, N, K[, Sparsity]'"
            " or SCALE-Sim's conv topology header 'Layer name, IFMAP Height, IFMAP Width, "
            "Filter Height, Filter Width, Channels, Num Filter, Strides[, Sparsity]'",
            source=path, field=line)
    if unknown:
        i, cell = unknown[0]
        raise SatsimError(f"unknown column {cell!r} (column {i + 1})", source=path,
                          field=line)
    for name, i in index.items():
        if not conv and name in _CONV_ONLY:
            raise SatsimError(f"column {cells[i]!r} (column {i + 1}) does not belong in a GEMM "
                              "topology", source=path, field=line)
    required = [*_CONV] if conv else [*_GEMM]
    if conv:
        has_pair = "stride_h" in index or "stride_w" in index
        if "stride" in index and has_pair:
            raise SatsimError("give either 'Strides' or 'Stride Height' and 'Stride Width', "
                              "not both", source=path, field=line)
        required += ["stride_h", "stride_w"] if has_pair else ["stride"]
    for name in required:
        if name not in index:
            raise SatsimError(f"missing column {_CANONICAL[name]!r} in the header", source=path,
                              field=line)
    gemm_form = "scalesim-gemm" if index.get("N", 0) < index.get("K", 0) else "gemm-csv"
    form = "scalesim-conv" if conv else gemm_form
    return _Header(form, index, text, unnamed, len(cells), renamed)


class _Row:
    """One body row, read through the header."""

    def __init__(self, path: Path, number: int, cells: list[str], header: _Header):
        self.path, self.number, self.cells, self.header = path, number, cells, header

    def error(self, message: str) -> SatsimError:
        return SatsimError(message, source=self.path, field=f"line {self.number}")

    def text(self, name: str) -> str | None:
        """The cell of column ``name``; ``None`` if the column or the cell is absent (an
        optional column's ``#`` comment too, see :func:`_comment_cells`)."""
        i = self.header.index.get(name)
        if i is None:
            return None
        if name in _OPTIONAL and (i >= len(self.cells) or self.cells[i].startswith("#")):
            return None
        if i >= len(self.cells):
            raise self.error(f"missing column {self.header.show(name)!r}")
        return self.cells[i]

    def int(self, name: str, default: int | None = None) -> int:
        text = self.text(name)
        column = self.header.show(name)
        if not text:
            if default is not None:
                return default
            raise self.error(f"{column}: missing value")
        if not _DIGITS.fullmatch(text):  # int() would also take "+5", "1_000" and "１２"
            raise self.error(f"{column}: expected a whole number, got {text!r}")
        value = int(text)
        if value < 1:
            raise self.error(f"{column}: must be positive, got {value}")
        return value

    def sparsity(self) -> NMPattern | None:
        text = self.text("sparsity")
        if text is None or text in ("", "1"):
            return None
        try:
            return NMPattern.parse(text)
        except ValueError as exc:
            raise self.error(f"{self.header.show('sparsity')}: {exc}") from None


def _comment_cells(row: _Row, comments: dict[int, set[str]]) -> None:
    """A cell starting with ``#`` is a comment (SCALE-Sim's MobileNet topologies mark
    depthwise layers ``#dw`` in a row's last cell, which SCALE-Sim drops unread) in a column
    without a header name, or in an optional one (read as blank). Columns without a header
    name may hold nothing else."""
    optional = {row.header.index[name] for name in _OPTIONAL if name in row.header.index}
    for i, cell in enumerate(row.cells):
        unnamed = i >= row.header.width or i in row.header.unnamed
        if cell.startswith("#") and (unnamed or i in optional):
            comments.setdefault(i, set()).add(cell)
        elif cell and unnamed:
            raise row.error(f"column {i + 1} has no header name, but holds {cell!r}")


def _conv_op(row: _Row, name: str, sparsity: NMPattern | None) -> GemmOp:
    h, w = row.int("ifmap_h"), row.int("ifmap_w")
    kh, kw = row.int("filter_h"), row.int("filter_w")
    channels, filters = row.int("channels"), row.int("filters")
    if "stride" in row.header.index:
        sh = sw = row.int("stride")
    else:
        sh, sw = row.int("stride_h"), row.int("stride_w")
    batch = row.int("batch", default=1)
    for axis, size, kernel in (("Height", h, kh), ("Width", w, kw)):
        if kernel > size:
            raise row.error(f"Filter {axis} {kernel} is larger than IFMAP {axis} {size} (SCALE-Sim"
                            " has no padding column: give the padded IFMAP size)")
    out_h, out_w = scalesim_output_size(h, kh, sh), scalesim_output_size(w, kw, sw)
    for key, expected in (("ofmap_h", out_h), ("ofmap_w", out_w), ("ofmap_px", out_h * out_w)):
        given = row.int(key, default=expected)
        if given != expected:
            raise row.error(f"{row.header.show(key)}: {given} disagrees with the output size "
                            f"SCALE-Sim computes, {expected} (ceil((IFMAP - Filter) / Stride) + 1"
                            " per axis)")
    depthwise = "DP" in name  # SCALE-Sim's rule, case and all
    m, k, n, layers = scalesim_conv_gemm(h, w, kh, kw, channels, filters, sh, sw,
                                         depthwise=depthwise, batch=batch)
    # The last window may overhang the far edge by up to stride - 1 rows; the smallest
    # symmetric padding reproduces SCALE-Sim's output size (ConvParams has no one-sided one).
    pad = tuple(-(-((out - 1) * stride + kernel - size) // 2)  # integer ceil: sizes may be huge
                for out, stride, kernel, size in ((out_h, sh, kh, h), (out_w, sw, kw, w)))
    try:
        conv: ConvParams | None = ConvParams(
            batch=batch, in_channels=channels, out_channels=filters * layers, height=h, width=w,
            kernel=(kh, kw), stride=(sh, sw), padding=pad, groups=layers)
    except ValidationError:
        # Only a window beyond satsim's MAX_WINDOW gets here (SCALE-Sim files write GEMMs as
        # 1 x K filters); the FF GEMM needs no conv record, only BP lowering would.
        conv = None
    return _op(row, layer=name, M=m, K=k, N=n, batch=layers, conv=conv, sparsity=sparsity)


def _op(row: _Row, **fields: Any) -> GemmOp:
    try:
        return GemmOp(phase=Phase.FF, weight="B", **fields)
    except ValidationError as exc:
        raise row.error(exc.errors()[0]["msg"].removeprefix("Value error, ")) from None


def read_csv_workload(path: str | Path) -> Trace:
    """Read a SCALE-Sim conv or GEMM topology, or a plain ``name,M,K,N`` CSV.

    Parameters
    ----------
    path
        The CSV file; its form is told apart by the header line's column names.

    Returns
    -------
    Trace
        One forward (FF) GEMM per row, weight as operand B. ``header.source`` is
        ``scalesim-conv``, ``scalesim-gemm`` or ``gemm-csv``. ``header.meta`` may carry
        ``ignored_columns`` (unnamed columns of ``#`` comments), ``renamed_columns`` (header
        names read otherwise, with the reason) and ``scalesim_drops_sparsity`` (lines whose
        sparsity SCALE-Sim 3.0.0 ignores: it drops the last cell of a row without a trailing
        comma).

    Raises
    ------
    SatsimError
        Naming the file, the line and the column of the first problem.
    """
    path = Path(path)
    rows = _lines(path)
    if not rows:
        raise SatsimError("empty CSV, expected a header line", source=path)
    (header_line, header_cells), body = rows[0], rows[1:]
    header = _header(path, header_line, header_cells)
    ops: list[GemmOp] = []
    comments: dict[int, set[str]] = {}
    drops_sparsity: list[int] = []
    for number, cells in body:
        row = _Row(path, number, cells, header)
        _comment_cells(row, comments)
        name = row.text("name")
        if not name:
            raise row.error("missing layer name")
        sparsity = row.sparsity()
        sparse_at = header.index.get("sparsity")
        if sparsity is not None and sparse_at is not None and sparse_at == len(cells) - 1:
            drops_sparsity.append(number)
        if header.form == "scalesim-conv":
            ops.append(_conv_op(row, name, sparsity))
        else:
            ops.append(_op(row, layer=name, M=row.int("M"), K=row.int("K"), N=row.int("N"),
                           sparsity=sparsity))
    if not ops:
        raise SatsimError("no layers after the header", source=path)
    sparse = any(op.sparsity is not None for op in ops)
    meta: dict[str, Any] = {"phases": "FF only", "method": "custom" if sparse else "dense"}
    if comments:
        named = {i: header.text[name] for name, i in header.index.items()}
        kind = {i: f"{named[i]!r}, read as blank" if i in named else "no header name"
                for i in comments}
        meta["ignored_columns"] = [f"column {i + 1} ({kind[i]}; comments "
                                   f"{', '.join(sorted(texts))})"
                                   for i, texts in sorted(comments.items())]
    if header.renamed:
        meta["renamed_columns"] = header.renamed
    if drops_sparsity:
        meta["scalesim_drops_sparsity"] = drops_sparsity
    return Trace(header=TraceHeader(name=path.stem, source=header.form, meta=meta),
                 records=tuple(ops))
