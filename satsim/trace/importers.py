"""Forward-only workloads from CSV files users already have.

* SCALE-Sim conv topology: ``Layer name, IFMAP Height, IFMAP Width, Filter Height,
  Filter Width, Channels, Num Filter, Strides[, Sparsity],`` (valid convolution: SCALE-Sim
  expects padding already added to the IFMAP; a name containing ``DP`` is depthwise).
* SCALE-Sim GEMM topology: ``Layer, M, N, K[, Sparsity],`` (K is the reduction dimension).
* Plain GEMM CSV: ``name,M,K,N[,sparsity]``.

Trailing commas are tolerated; a sparsity of ``1:1`` (SCALE-Sim's default) means dense.
"""

from __future__ import annotations

import csv
from pathlib import Path

from pydantic import ValidationError

from satsim.errors import SatsimError
from satsim.trace.schema import ConvParams, GemmOp, Trace, TraceHeader
from satsim.types import NMPattern, Phase

_SCALESIM_CONV = ["layer name", "ifmap height", "ifmap width", "filter height", "filter width",
                  "channels", "num filter", "strides"]


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-blank rows with their line numbers, cells stripped, trailing empty cells dropped."""
    try:
        with path.open(newline="") as handle:
            rows = []
            for number, row in enumerate(csv.reader(handle), start=1):
                cells = [c.strip() for c in row]
                while cells and not cells[-1]:
                    cells.pop()
                if cells:
                    rows.append((number, cells))
            return rows
    except OSError as exc:
        raise SatsimError(f"cannot read: {exc.strerror}", source=path) from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise SatsimError(f"malformed CSV: {exc}", source=path) from None


def _int(path: Path, number: int, column: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise SatsimError(f"{column}: expected a whole number, got {text!r}", source=path,
                          field=f"line {number}") from None
    if value < 1:
        raise SatsimError(f"{column}: must be positive, got {value}", source=path,
                          field=f"line {number}")
    return value


def _sparsity(path: Path, number: int, text: str | None) -> NMPattern | None:
    if text is None or text in ("", "1"):
        return None
    try:
        return NMPattern.parse(text)
    except ValueError as exc:
        raise SatsimError(f"sparsity: {exc}", source=path, field=f"line {number}") from None


def _cells(path: Path, number: int, cells: list[str], header: list[str], need: int):
    if len(cells) < need:
        missing = header[len(cells)] if len(cells) < len(header) else f"column {len(cells) + 1}"
        raise SatsimError(f"missing column {missing!r}", source=path, field=f"line {number}")
    return cells


def _op(path: Path, number: int, **fields) -> GemmOp:
    try:
        return GemmOp(phase=Phase.FF, weight="B", **fields)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise SatsimError(err["msg"].removeprefix("Value error, "), source=path,
                          field=f"line {number}") from None


def read_csv_workload(path: str | Path) -> Trace:
    """Read any of the three CSV forms (told apart by the header line)."""
    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise SatsimError("empty CSV, expected a header line", source=path)
    (_, header), body = rows[0], rows[1:]
    names = [h.lower() for h in header]
    ops: list[GemmOp] = []
    if names[: len(_SCALESIM_CONV)] == _SCALESIM_CONV:
        form = "scalesim-conv"
        for number, cells in body:
            cells = _cells(path, number, cells, header, len(_SCALESIM_CONV))
            h, w, kh, kw, ch, filters, stride = (
                _int(path, number, header[i], cells[i]) for i in range(1, 8))
            # SCALE-Sim writes an optional second stride column before the sparsity.
            extra = cells[8:]
            if extra and ":" not in extra[0]:
                stride_w, extra = _int(path, number, "stride width", extra[0]), extra[1:]
            else:
                stride_w = stride
            depthwise = "DP" in cells[0]
            groups = ch if depthwise else 1
            try:
                conv = ConvParams(batch=1, in_channels=ch, out_channels=filters * groups,
                                  height=h, width=w, kernel=(kh, kw), stride=(stride, stride_w),
                                  groups=groups)
            except ValidationError as exc:
                raise SatsimError(exc.errors()[0]["msg"].removeprefix("Value error, "),
                                  source=path, field=f"line {number}") from None
            m, k, n, batch = conv.gemm_dims(Phase.FF)
            ops.append(_op(path, number, layer=cells[0], M=m, K=k, N=n, batch=batch, conv=conv,
                           sparsity=_sparsity(path, number, extra[0] if extra else None)))
    elif len(names) >= 4 and names[1:4] == ["m", "n", "k"]:
        form = "scalesim-gemm"
        for number, cells in _checked(path, body, header, 4):
            m, n, k = (_int(path, number, header[i], cells[i]) for i in (1, 2, 3))
            ops.append(_op(path, number, layer=cells[0], M=m, K=k, N=n,
                           sparsity=_sparsity(path, number, cells[4] if len(cells) > 4 else None)))
    elif names[:4] == ["name", "m", "k", "n"]:
        form = "gemm-csv"
        for number, cells in _checked(path, body, header, 4):
            m, k, n = (_int(path, number, header[i], cells[i]) for i in (1, 2, 3))
            ops.append(_op(path, number, layer=cells[0], M=m, K=k, N=n,
                           sparsity=_sparsity(path, number, cells[4] if len(cells) > 4 else None)))
    else:
        raise SatsimError(
            "unrecognised CSV header: expected 'name,M,K,N[,sparsity]', SCALE-Sim's "
            "'Layer, M, N, K' or SCALE-Sim's conv topology header", source=path, field="line 1")
    if not ops:
        raise SatsimError("no layers after the header", source=path)
    sparse = sorted({str(op.sparsity) for op in ops if op.sparsity is not None})
    meta = {"phases": "FF only", "method": "custom" if sparse else "dense"}
    return Trace(header=TraceHeader(name=path.stem, source=form, meta=meta), records=tuple(ops))


def _checked(path: Path, body, header: list[str], need: int):
    return [(number, _cells(path, number, cells, header, need)) for number, cells in body]
