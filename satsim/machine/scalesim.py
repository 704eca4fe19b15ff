"""SCALE-Sim 3.0.0's compute-cycle conventions, as closed forms.

SCALE-Sim (https://github.com/scalesim-project/scale-sim-v3, MIT) simulates a layer by
building per-fold demand matrices (one row per cycle) and replaying them through its memory
model. Without memory stalls a layer's ``Total Cycles`` is the number of demand rows minus one;
with stalls, ``Total Cycles - Stall Cycles`` still is. This module gives that number in closed
form, so satsim can reproduce SCALE-Sim's compute cycles exactly without running it. The
derivation, with the SCALE-Sim source each term comes from, is in ``docs/scalesim.md``;
``tests/test_scalesim_parity.py`` checks every formula here against recorded SCALE-Sim runs.

SCALE-Sim views every layer as ``C[M, N] = A[M, K] @ B[K, N]`` with the filter as operand B:
M = output pixels (GEMM M), K = reduction (``Filter Height x Filter Width x Channels``, or GEMM
K), N = filters (GEMM N).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from satsim.types import NMPattern

if TYPE_CHECKING:
    from satsim.trace.schema import GemmOp

ScaleSimDataflow = Literal["ws", "os", "is"]
DATAFLOWS: tuple[str, ...] = ("ws", "os", "is")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def scalesim_output_size(ifmap: int, filt: int, stride: int) -> int:
    """Output rows (or columns) of one conv axis as SCALE-Sim counts them.

    ``ceil((ifmap - filt + stride) / stride) = ceil((ifmap - filt) / stride) + 1``
    (``topologies.topo_calc_hyperparams`` in ``scalesim/topology_utils.py``). Unlike the usual
    ``floor`` this counts a last, partial window that overhangs the IFMAP's far edge; its
    out-of-range pixels are address ``-1`` in ``operand_matrix.calc_ifmap_elem_addr``, i.e.
    zeros. Equal to ``floor`` whenever the stride tiles ``ifmap - filt`` exactly.

    Parameters
    ----------
    ifmap, filt, stride
        IFMAP size (already padded: SCALE-Sim has no padding column), filter size and stride
        along the axis; ``1 <= filt <= ifmap`` (SCALE-Sim asserts ``filt <= ifmap``).
    """
    if not 1 <= filt <= ifmap or stride < 1:
        raise ValueError(f"need 1 <= filter <= ifmap and stride >= 1, got {filt}, {ifmap}, "
                         f"{stride}")
    return _ceil_div(ifmap - filt, stride) + 1


def scalesim_conv_gemm(ifmap_h: int, ifmap_w: int, filter_h: int, filter_w: int, channels: int,
                       num_filters: int, stride_h: int, stride_w: int | None = None, *,
                       depthwise: bool = False, batch: int = 1) -> tuple[int, int, int, int]:
    """A conv topology row as SCALE-Sim's GEMM layers: ``(m, k, n, layers)``.

    ``m = batch * Eh * Ew`` output pixels (:func:`scalesim_output_size` per axis),
    ``k = filter_h * filter_w * channels``, ``n = num_filters``. A depthwise row (SCALE-Sim:
    the layer name contains ``"DP"``, ``topologies.load_arrays_conv``) becomes ``channels``
    separate layers of one channel each, so ``k = filter_h * filter_w`` and
    ``layers = channels``; otherwise ``layers = 1``. A GEMM row ``M, N, K`` is
    ``(M, K, N, 1)`` (``topologies.load_arrays_gemm`` turns it into a conv with a 1 x K filter
    over an M x K IFMAP).

    SCALE-Sim 3.0.0 has no batch: ``operand_matrix.set_params`` fixes ``batch_size = 1`` and
    its topology reader crashes on a ``Batch Size`` column. ``batch`` follows the shape its
    operand matrix is written for (``batch * Eh * Ew`` IFMAP rows), i.e. ``batch`` images
    stacked along M.
    """
    stride_w = stride_h if stride_w is None else stride_w
    out = scalesim_output_size(ifmap_h, filter_h, stride_h) * scalesim_output_size(
        ifmap_w, filter_w, stride_w)
    if depthwise:
        return batch * out, filter_h * filter_w, num_filters, channels
    return batch * out, filter_h * filter_w * channels, num_filters, 1


def scalesim_compressed_k(k: int, pattern: NMPattern | None) -> int:
    """Reduction length SCALE-Sim streams for a layer-wise ``n:m`` sparse filter.

    ``floor(k/m)*n + min(k mod m, n)``: ``operand_matrix.create_filter_matrix`` keeps the
    first n of every m filter rows (a short last group keeps ``min(k mod m, n)``) and
    ``create_ifmap_matrix`` drops the matching IFMAP columns. Dense (``None``): ``k``.
    satsim's own array pads the last group instead: ``ceil(k/m)*n``
    (:meth:`NMPattern.compressed_length`).
    """
    return k if pattern is None else pattern.kept(k)


def scalesim_folds(m: int, k: int, n: int, rows: int, cols: int, dataflow: str,
                   pattern: NMPattern | None = None) -> tuple[int, int]:
    """``(F, T)``: folds and stream length per fold of one SCALE-Sim layer.

    With ``K' = scalesim_compressed_k(k, pattern)`` on an ``R x C`` array (``R = rows``,
    ``C = cols``):

    ======== ============================== ======
    dataflow folds F                        T
    ======== ============================== ======
    ``ws``   ``ceil(K'/R) * ceil(n/C)``     ``m``
    ``os``   ``ceil(m/R) * ceil(n/C)``      ``K'``
    ``is``   ``ceil(K'/R) * ceil(m/C)``     ``n``
    ======== ============================== ======

    (``Sr``, ``Sc``, ``T`` of ``set_params`` in ``scalesim/compute/systolic_compute_*.py``.)
    """
    if min(m, k, n, rows, cols) < 1:
        raise ValueError(f"dimensions must be positive, got m={m} k={k} n={n} "
                         f"array={rows}x{cols}")
    kc = scalesim_compressed_k(k, pattern)
    if dataflow == "ws":
        return _ceil_div(kc, rows) * _ceil_div(n, cols), m
    if dataflow == "os":
        return _ceil_div(m, rows) * _ceil_div(n, cols), kc
    if dataflow == "is":
        return _ceil_div(kc, rows) * _ceil_div(m, cols), n
    raise ValueError(f"SCALE-Sim dataflow must be one of {', '.join(DATAFLOWS)}, got {dataflow!r}")


def scalesim_compute_cycles(m: int, k: int, n: int, rows: int, cols: int, dataflow: str,
                            pattern: NMPattern | None = None) -> int:
    """SCALE-Sim 3.0.0's compute cycles of one layer (``Total Cycles - Stall Cycles``).

    With ``(F, T) = scalesim_folds(...)`` on an ``R x C`` array::

        ws, is:  F * (2R + C + T - 2) - 1
        os:      F * (R + C + T - 2) - 1

    Every fold runs alone (no overlap between folds). WS and IS spend R cycles loading the
    stationary operand before streaming; every fold then pays the full skew and drain of the
    physical array (``R - 1`` and ``C - 1``), also for edge tiles. The final ``- 1``: SCALE-Sim
    reports the cycle index of the last demand row, not a count.

    Parameters
    ----------
    m, k, n
        SCALE-Sim's GEMM view of the layer: ``m`` output pixels (GEMM M), ``k`` the dense
        reduction length, ``n`` filters (GEMM N). See :func:`scalesim_conv_gemm` for conv rows.
    rows, cols
        Array height (``ArrayHeight``) and width (``ArrayWidth``).
    dataflow
        ``"ws"``, ``"os"`` or ``"is"`` (SCALE-Sim's ``Dataflow``).
    pattern
        The layer's ``n:m`` sparsity from the topology's ``Sparsity`` column, or ``None`` for
        dense. SCALE-Sim applies it only with ``SparsitySupport : true`` and
        ``OptimizedMapping : false`` (layer-wise sparsity); pass ``None`` when its config has
        ``SparsitySupport : false``, which makes it ignore the column.

    Returns
    -------
    int
        The layer's ``Total Cycles`` in COMPUTE_REPORT.csv when the memory never stalls (as in
        ``InterfaceBandwidth: CALC``), and ``Total Cycles - Stall Cycles`` in general. It does
        not depend on SRAM sizes, bandwidths or offsets.
    """
    folds, stream = scalesim_folds(m, k, n, rows, cols, dataflow, pattern)
    load = rows if dataflow in ("ws", "is") else 0
    return folds * (load + rows + cols + stream - 2) - 1


def scalesim_op_cycles(op: GemmOp, rows: int, cols: int, dataflow: str, *,
                       sparsity_support: bool = True) -> int:
    """SCALE-Sim's compute cycles of a satsim GEMM op: ``op.batch`` identical layers.

    A depthwise conv (``batch`` = channels, as :func:`satsim.trace.read_csv_workload` imports
    a ``DP`` row) is that many SCALE-Sim layers run one after the other. An op whose weight is
    operand A runs transposed (M and N swap), since SCALE-Sim's filter is always operand B.
    ``sparsity_support=False`` runs the op dense, as SCALE-Sim does with
    ``SparsitySupport : false``.
    """
    m, n = (op.N, op.M) if op.weight == "A" else (op.M, op.N)
    pattern = op.sparsity if sparsity_support else None
    return op.batch * scalesim_compute_cycles(m, op.K, n, rows, cols, dataflow, pattern)
