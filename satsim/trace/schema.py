"""Trace format v2: one training iteration as a tensor dataflow graph.

A trace file is JSON lines: a header, the tensor table (one ``tensor`` line each), one record
per line in execution order, and an ``end`` record carrying the counts (so a truncated file is
detected). Every record names the tensor ids it reads and writes. GEMM-like ops are canonical
``C[M, N] = A[M, K] @ B[K, N]`` (times ``batch`` independent instances); ``weight`` says which
operand is a layer's weight, and ``sparsity`` is that operand's N:M structure along K.
Version 1 files (records only, no tensors) are still read: their records form a sequential
chain.
"""

from __future__ import annotations

import math
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
    StrictInt,
    model_validator,
)

from satsim.types import NMPattern, Phase, sparsity_label

FORMAT = "satsim.trace"
VERSION = 2
VERSIONS = (1, 2)  # versions this satsim reads


def _nm(value: Any) -> NMPattern | None:
    if value is None or isinstance(value, NMPattern):
        return value
    if not isinstance(value, str):
        raise ValueError("expected 'dense' or 'N:M'")
    return NMPattern.parse(value)


def _sparse(value: Any) -> NMPattern:
    pattern = _nm(value)
    if pattern is None:
        raise ValueError("expected 'N:M': a mask is generated for an N:M pattern, never dense")
    return pattern


Sparsity = Annotated[NMPattern | None, PlainValidator(_nm), PlainSerializer(sparsity_label)]
MAX_WINDOW = 1024  # documented limit on kernel, stride and dilation: far beyond real layers
MAX_DIM = 2**40  # documented limit on any size or count: ~10^12, beyond any real GEMM
# Strict: a JSON true, 32.0 or "32" is not the size 32.
Dim = Annotated[int, Strict(), Field(ge=1, le=MAX_DIM)]
_Side = Annotated[int, Strict(), Field(ge=1, le=MAX_WINDOW)]
Window = tuple[_Side, _Side]
TensorId = Annotated[int, Strict(), Field(ge=0, le=MAX_DIM)]
Ids = tuple[TensorId, ...]


class Role(StrEnum):
    """What a tensor is in the training step."""

    INPUT = "input"  # the batch: images or token ids, and the targets
    ACTIVATION = "activation"  # written in FF, not kept for the backward pass
    SAVED = "saved activation"  # written in FF and saved by autograd for BP / WG
    PARAMETER = "parameter"  # trained weights, their low-precision copies, model buffers
    COMPRESSED = "compressed weight"  # the kept values of an N:M weight
    INDEX = "index metadata"  # the positions of the kept values within their groups
    GRADIENT = "gradient"  # written in the backward pass (data gradients, partial sums)
    WEIGHT_GRADIENT = "weight gradient"  # a parameter's gradient, and WG GEMM results
    OPTIMIZER_STATE = "optimizer state"  # e.g. SGD momentum
    MASK = "mask"  # integer or boolean tensors the step computes (max-pool indices, ...)
    LOSS = "loss"


# Tensors that exist before the step: read before any record writes them.
STATE_ROLES = frozenset({Role.INPUT, Role.PARAMETER, Role.OPTIMIZER_STATE})
# Bits per element. ``uint1``..``uint7`` are packed index fields (N:M positions).
DTYPE_BITS = {"float64": 64, "float32": 32, "bfloat16": 16, "float16": 16, "int64": 64,
              "int32": 32, "int16": 16, "int8": 8, "uint8": 8, "bool": 8,
              "float8_e4m3fn": 8, "float8_e5m2": 8, **{f"uint{b}": b for b in range(1, 8)}}


def index_dtype(m: int) -> str:
    """The packed dtype locating one kept value within its group of ``m``: ``ceil(log2 m)``
    bits (``uint3`` for M = 8)."""
    bits = max(1, math.ceil(math.log2(m)))
    return f"uint{bits}" if bits <= 8 else "int16" if bits <= 16 else "int32"


def compressed_shape(shape: tuple[int, ...], direction: str, nm: NMPattern) -> tuple[int, ...]:
    """The kept values of a weight pruned N:M for ``direction``: FF groups along C_in / in
    (dim 1), BP along C_out / out (dim 0)."""
    dim = 1 if direction == "FF" else 0
    return tuple(s * nm.n // nm.m if i == dim else s for i, s in enumerate(shape))


def storage_bytes(shape: tuple[int, ...], dtype: str) -> int:
    """Bytes of a dense tensor: ``ceil(numel * bits / 8)``."""
    return -(-math.prod(shape) * DTYPE_BITS[dtype] // 8)


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorInfo(_Record):
    """One tensor of the step: a storage, whatever views of it the ops used.

    Views, reshapes and transposes resolve to the tensor they alias; an in-place op writes a
    new version of the same tensor. ``bytes`` is the storage size: ``ceil(numel * bits / 8)``.
    A record reading only a part of a tensor (``x[:, 0]``) reads a view entry (``view_of``)
    with that part's shape and bytes, so its reads have the bytes it reads.
    """

    kind: Literal["tensor"] = "tensor"
    id: TensorId
    shape: tuple[Annotated[int, Strict(), Field(ge=0, le=MAX_DIM)], ...]
    dtype: str
    bytes: Annotated[int, Strict(), Field(ge=0)]
    role: Role
    layer: str | None = Field(default=None, description="the layer that produced it (owns it)")
    name: str | None = Field(default=None, description="parameters and their derived forms")
    of: TensorId | None = Field(
        default=None, description="the parameter a compressed form, index, low-precision "
        "copy, optimizer state or gradient belongs to")
    view_of: TensorId | None = Field(
        default=None, description="a part of that tensor (a slice a record reads), whose "
        "bytes it shares: not counted again")
    nm: Sparsity = Field(default=None,
                         description="compressed weights and indices: their N:M pattern")

    @model_validator(mode="after")
    def _check(self) -> TensorInfo:
        bits = DTYPE_BITS.get(self.dtype)
        if bits is None:
            raise ValueError(f"tensor {self.id}: unknown dtype {self.dtype!r}")
        expected = storage_bytes(self.shape, self.dtype)
        if self.bytes != expected:
            raise ValueError(f"tensor {self.id}: {self.bytes} bytes disagree with shape "
                             f"{list(self.shape)} and dtype {self.dtype} ({expected} bytes)")
        if (self.role in (Role.COMPRESSED, Role.INDEX)) != (self.nm is not None):
            raise ValueError(f"tensor {self.id}: an N:M pattern belongs to compressed weights "
                             "and index metadata, and only to them")
        return self

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def dense_numel(self) -> int:
        """Elements of the dense tensor this one stands for (compressed: ``numel * m / n``)."""
        return self.numel if self.nm is None else self.numel * self.nm.m // self.nm.n

    def describe(self) -> str:
        """``tensor 12 (saved activation of layer1.0.conv1, [32, 64, 32, 32] float32)``."""
        owner = self.name or (f"of {self.layer}" if self.layer else "")
        return (f"tensor {self.id} ({self.role}{' ' + owner if owner else ''}, "
                f"{list(self.shape)} {self.dtype})")


class ConvParams(_Record):
    """A 2-D convolution that a GEMM was lowered from (implicit GEMM)."""

    batch: Dim
    in_channels: Dim
    out_channels: Dim
    height: Dim = Field(description="input height")
    width: Dim = Field(description="input width")
    kernel: Window
    stride: Window = (1, 1)
    padding: tuple[Annotated[int, Strict(), Field(ge=0, le=MAX_WINDOW)],
                   Annotated[int, Strict(), Field(ge=0, le=MAX_WINDOW)]] = (0, 0)
    dilation: Window = (1, 1)
    groups: Dim = 1

    @model_validator(mode="after")
    def _check(self) -> ConvParams:
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError("channels must be divisible by groups")
        if self.out_height < 1 or self.out_width < 1:
            raise ValueError("kernel larger than the padded input")
        return self

    def _out(self, size: int, axis: int) -> int:
        span = self.dilation[axis] * (self.kernel[axis] - 1) + 1
        return (size + 2 * self.padding[axis] - span) // self.stride[axis] + 1

    @property
    def out_height(self) -> int:
        return self._out(self.height, 0)

    @property
    def out_width(self) -> int:
        return self._out(self.width, 1)

    def gemm_dims(self, phase: Phase) -> tuple[int, int, int, int]:
        """(M, K, N, batch) of the lowered GEMM in ``phase``; one instance per group."""
        g, window = self.groups, self.kernel[0] * self.kernel[1]
        cin, cout = self.in_channels // g, self.out_channels // g
        out_px = self.batch * self.out_height * self.out_width
        if phase is Phase.FF:
            return out_px, cin * window, cout, g
        if phase is Phase.BP:
            return self.batch * self.height * self.width, cout * window, cin, g
        if phase is Phase.WG:
            return cout, out_px, cin * window, g
        raise ValueError(f"a convolution has no {phase} GEMM")


class GemmOp(_Record):
    """A GEMM-like op: ``batch`` x ``C[M, N] = A[M, K] @ B[K, N]``."""

    kind: Literal["gemm"] = "gemm"
    # Checked as text ("Input should be 'FF', 'BP' or 'WG'", not the enum's repr), kept a Phase.
    phase: Annotated[Literal["FF", "BP", "WG"], AfterValidator(Phase)]
    layer: str = Field(min_length=1, description="module name of the layer")
    M: Dim
    K: Dim = Field(description="reduction dimension")
    N: Dim
    batch: Dim = 1
    weight: Literal["A", "B"] | None = Field(
        default=None, description="which operand is the layer's weight (None: activations only)")
    sparsity: Sparsity = Field(default=None, description="weight operand's N:M along K")
    prunable: bool = Field(default=True, description="False where the method keeps it dense")
    conv: ConvParams | None = None
    dtype: str | None = None
    a: Ids = Field(default=(), description="tensors of operand A")
    b: Ids = Field(default=(), description="tensors of operand B (compressed: values, index)")
    c: Ids = Field(default=(), description="the result tensor")
    bias: Ids = Field(default=(), description="a bias the result starts from (read)")
    causal: Literal["MN", "MK", "KN"] | None = Field(
        default=None, description="causal attention: the two dimensions spanning its masked "
        "score blocks (g stacked T x T blocks, each real on and below the diagonal)")

    @property
    def reads(self) -> Ids:
        return (*self.a, *self.b, *self.bias)

    @property
    def real_macs(self) -> int:
        """The MACs that are real work: all of them, except under a causal mask, where each
        ``T x T`` score block counts its ``T(T+1)/2`` unmasked positions (the rest are
        multiplied out or thrown away)."""
        if self.causal is None:
            return self.macs
        dims = {"M": self.M, "K": self.K, "N": self.N}
        x, y = (dims[d] for d in self.causal)
        (third,) = (v for d, v in dims.items() if d not in self.causal)
        t = min(x, y)
        return self.batch * third * (max(x, y) // t) * t * (t + 1) // 2

    @property
    def writes(self) -> Ids:
        return self.c

    @model_validator(mode="after")
    def _check(self) -> GemmOp:
        if self.sparsity is not None and self.weight is None:
            raise ValueError("sparsity needs a weight operand (weight: A or B)")
        if self.causal is not None:
            x, y = ({"M": self.M, "K": self.K, "N": self.N}[d] for d in self.causal)
            if max(x, y) % min(x, y):
                raise ValueError(f"causal over {self.causal}: {x} x {y} is not whole T x T "
                                 "score blocks")
        if self.conv is not None:
            expected = self.conv.gemm_dims(self.phase)
            if expected != (self.M, self.K, self.N, self.batch):
                got = (self.M, self.K, self.N, self.batch)
                raise ValueError(f"inconsistent dims: conv gives (M, K, N, batch) = {expected}, "
                                 f"record has {got}")
        return self

    @property
    def macs(self) -> int:
        """Dense multiply-accumulates."""
        return self.batch * self.M * self.K * self.N


class VectorOp(_Record):
    """Element-wise or reduction work outside the array (activation, norm, softmax, ...)."""

    kind: Literal["vector"] = "vector"
    phase: Phase
    layer: str
    op: str = Field(min_length=1)
    elements: Dim
    reads: Ids = ()
    writes: Ids = ()


class UpdateOp(_Record):
    """Optimizer update of one parameter tensor."""

    kind: Literal["update"] = "update"
    layer: str
    param: str
    elements: Dim
    optimizer: str = "sgd"
    reads: Ids = Field(default=(), description="gradient, master weight, optimizer state")
    writes: Ids = Field(default=(), description="new master weight and state (+ low-precision "
                        "copy)")


class MaskGenOp(_Record):
    """Generation of one N:M mask (and sparse weight) from a dense weight."""

    kind: Literal["maskgen"] = "maskgen"
    layer: str
    elements: Dim
    sparsity: Annotated[NMPattern, PlainValidator(_sparse), PlainSerializer(str)]
    direction: Literal["FF", "BP"] = Field(description="the GEMM the mask serves")
    reads: Ids = Field(default=(), description="the dense weight")
    writes: Ids = Field(default=(), description="compressed values and index metadata")


Record = Annotated[GemmOp | VectorOp | UpdateOp | MaskGenOp, Field(discriminator="kind")]


class LayerInfo(_Record):
    """A weight layer (conv or linear) of the captured model, and which N:M can prune it.

    Recorded for every layer whatever the capture's method, so that a trace captured dense can
    be re-annotated with any N:M exactly as ``sparsify`` would have pruned it.
    """

    kind: Literal["conv", "linear"]
    status: str = Field(description="what the capture did: 'sparse 2:8 bdwp' or 'dense: why'")
    excluded: str | None = Field(
        default=None, description="why no method prunes it (stem conv, skipped, ...), if so")
    ff_channels: Dim = Field(
        description="FF reduction channels per group (C_in/groups or in_features)")
    bp_channels: Dim = Field(
        description="BP reduction channels per group (C_out/groups or out_features)")
    groups: Dim = 1

    def dense_reason(self, method: str, m: int) -> str | None:
        """Why ``method`` with groups of ``m`` leaves this layer dense, or ``None`` if it prunes.

        FF groups run along the FF reduction channels; BDWP's second mask groups along the BP
        reduction channels, so both must be whole groups of ``m``.
        """
        if self.excluded is not None:
            return self.excluded
        conv = self.kind == "conv"
        per_group, extra = ("/groups", f" (groups {self.groups})") if self.groups > 1 else ("", "")
        if self.ff_channels % m:
            name = "in_channels" if conv else "in_features"
            return f"{name}{per_group} {self.ff_channels} not divisible by {m}{extra}"
        if method == "bdwp" and self.bp_channels % m:
            name = "out_channels" if conv else "out_features"
            return f"{name}{per_group} {self.bp_channels} not divisible by {m}{extra}"
        return None


class TraceHeader(_Record):
    """First line of a trace file."""

    format: Literal["satsim.trace"] = FORMAT
    version: StrictInt = Field(default=VERSION, ge=1, le=2)  # not Literal[1, 2]: takes `true`
    name: str = Field(min_length=1)
    source: str = Field(default="", description="how the trace was made (capture, hand, csv)")
    precision: Literal["fp32", "bf16", "fp16"] | None = Field(
        default=None, description="the step's GEMM operand format (autocast); None: unknown")
    meta: dict[str, Any] = Field(default_factory=dict, description="model, batch, method, ...")
    layers: dict[str, LayerInfo] = Field(
        default_factory=dict, description="captured weight layers by name (empty: not recorded)")


class Trace(BaseModel):
    """A header, the tensor table and the records of one iteration, in execution order.

    Without tensors (version 1 files, CSV imports) the records form a sequential chain.
    """

    model_config = ConfigDict(frozen=True)

    header: TraceHeader
    records: tuple[Record, ...]
    tensors: tuple[TensorInfo, ...] = ()

    @property
    def has_graph(self) -> bool:
        """Whether records name the tensors they read and write (else: a sequential chain)."""
        return bool(self.tensors)

    @cached_property
    def tensor_table(self) -> dict[int, TensorInfo]:
        return {t.id: t for t in self.tensors}

    @property
    def name(self) -> str:
        return self.header.name

    @property
    def gemms(self) -> tuple[GemmOp, ...]:
        return tuple(r for r in self.records if isinstance(r, GemmOp))
