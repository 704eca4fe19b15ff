"""The checker of a trace's tensor dataflow graph.

A version-2 trace names, for every record, the tensors it reads and writes. The checker holds
a trace to what a training step can be: every tensor a record reads was written by an earlier
record or exists before the step (inputs, parameters, optimizer state); every id is in the
tensor table; each GEMM's operands are tensors of the GEMM's dimensions. (Sizes agreeing with
shapes and dtypes is checked per tensor by the schema.) It runs in the reader and on every
capture before the file is written.
"""

from __future__ import annotations

import math

from satsim.errors import SatsimError
from satsim.trace.schema import STATE_ROLES, GemmOp, MaskGenOp, Role, TensorInfo, Trace
from satsim.types import Phase


class GraphError(SatsimError):
    """A broken dataflow graph; ``record`` is the index of the record (or ``tensor`` of the
    table entry) at fault, so a reader can name the line."""

    def __init__(self, message: str, *, record: int | None = None, tensor: int | None = None):
        super().__init__(message)
        self.record, self.tensor = record, tensor


def check_graph(trace: Trace) -> None:
    """Raise :class:`GraphError` at the first record that breaks the graph's rules."""
    table: dict[int, TensorInfo] = {}
    for index, tensor in enumerate(trace.tensors):
        if tensor.id in table:
            raise GraphError(f"tensor {tensor.id}: duplicate id", tensor=index)
        table[tensor.id] = tensor
    for index, tensor in enumerate(trace.tensors):
        for what in ("of", "view_of"):
            other = getattr(tensor, what)
            if other is not None and other not in table:
                raise GraphError(f"tensor {tensor.id}: '{what}' names tensor {other}, which is "
                                 "not in the tensor table", tensor=index)
        base = table.get(tensor.view_of)
        if base is not None and (base.view_of is not None or base.role is not tensor.role):
            raise GraphError(f"tensor {tensor.id}: a view has its base's role and the base is "
                             "no view", tensor=index)
    written: set[int] = set()
    for index, record in enumerate(trace.records):
        for tid in record.reads:
            tensor = _known(table, tid, index, "reads")
            base = tensor.view_of if tensor.view_of is not None else tid
            if base not in written and tensor.role not in STATE_ROLES:
                raise GraphError(f"{record.kind} {record.layer} reads {tensor.describe()} "
                                 "before any record writes it", record=index)
        for tid in record.writes:
            tensor = _known(table, tid, index, "writes")
            written.add(tensor.view_of if tensor.view_of is not None else tid)
        if isinstance(record, GemmOp) and (record.a or record.b or record.c):
            _check_operands(record, table, index)
        if isinstance(record, MaskGenOp) and table:  # no table: records form a chain
            _check_maskgen(record, table, index)


def _known(table: dict[int, TensorInfo], tid: int, index: int, verb: str) -> TensorInfo:
    try:
        return table[tid]
    except KeyError:
        raise GraphError(f"{verb} tensor {tid}, which is not in the tensor table",
                         record=index) from None


def _check_maskgen(op: MaskGenOp, table: dict[int, TensorInfo], index: int) -> None:
    """A mask generation reads one tensor, the dense weight, and writes its compressed
    values and their index, in the record's N:M pattern."""
    where = f"maskgen {op.layer}"
    if len(op.reads) != 1:
        raise GraphError(f"{where}: reads must be one tensor, the dense weight, got "
                         f"{list(op.reads)}", record=index)
    if sorted(table[tid].role for tid in op.writes) != sorted((Role.COMPRESSED, Role.INDEX)):
        raise GraphError(f"{where}: writes must be the compressed values and their index, "
                         f"got {list(op.writes)}", record=index)
    if any(table[tid].nm != op.sparsity for tid in op.writes):
        raise GraphError(f"{where}: writes tensors of another N:M pattern than its "
                         f"{op.sparsity}", record=index)


def _operand_elements(op: GemmOp) -> dict[str, int]:
    """Dense elements of A, B and C: the lowered GEMM's, or for a conv its tensors' own
    (the input, weight and output feature maps; implicit GEMM never materialises im2col)."""
    if op.conv is None:
        return {"a": op.batch * op.M * op.K, "b": op.batch * op.K * op.N,
                "c": op.batch * op.M * op.N}
    cv = op.conv
    x = cv.batch * cv.in_channels * cv.height * cv.width
    y = cv.batch * cv.out_channels * cv.out_height * cv.out_width
    w = cv.out_channels * cv.in_channels // cv.groups * math.prod(cv.kernel)
    return {Phase.FF: {"a": x, "b": w, "c": y}, Phase.BP: {"a": y, "b": w, "c": x},
            Phase.WG: {"a": y, "b": x, "c": w}}[op.phase]


def _check_operands(op: GemmOp, table: dict[int, TensorInfo], index: int) -> None:
    """Each operand is one tensor of the operand's elements; a compressed weight is its
    values (dense-equivalent elements) and an index of as many entries."""
    where = f"gemm {op.phase} {op.layer}"
    for name, expected in _operand_elements(op).items():
        ids = getattr(op, name)
        tensors = [table[tid] for tid in ids]
        values = [t for t in tensors if t.role is not Role.INDEX]
        index_ = [t for t in tensors if t.role is Role.INDEX]
        if len(values) != 1 or len(index_) > 1 or (index_ and values[0].role is not
                                                     Role.COMPRESSED):
            raise GraphError(f"{where}: operand {name.upper()} must be one tensor (or compressed "
                             f"values and their index), got {list(ids)}", record=index)
        value = values[0]
        if value.dense_numel != expected:
            raise GraphError(f"{where}: operand {name.upper()} is {value.describe()}, "
                             f"{value.dense_numel} elements; the GEMM's operand has {expected}",
                             record=index)
        if index_ and (index_[0].numel != value.numel or index_[0].of != value.of):
            raise GraphError(f"{where}: {index_[0].describe()} does not index "
                             f"{value.describe()}", record=index)
        if name in "ab" and op.dtype is not None and value.dtype != op.dtype:
            raise GraphError(f"{where}: operand {name.upper()} is {value.describe()}, the GEMM "
                             f"runs in {op.dtype}", record=index)
