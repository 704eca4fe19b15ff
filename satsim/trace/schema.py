"""Trace format v1: the records of one training iteration, in execution order.

A trace file is JSON lines: a header, one record per line, and an ``end`` record carrying
the record count (so a truncated file is detected). GEMM-like ops are canonical
``C[M, N] = A[M, K] @ B[K, N]`` (times ``batch`` independent instances); ``weight`` says which
operand is a layer's weight, and ``sparsity`` is that operand's N:M structure along K.
Vector, update and mask-generation records are carried for the units of later issues.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    Strict,
    model_validator,
)

from satsim.types import NMPattern, Phase, sparsity_label

FORMAT = "satsim.trace"
VERSION = 1


def _nm(value: Any) -> NMPattern | None:
    if value is None or isinstance(value, NMPattern):
        return value
    if not isinstance(value, str):
        raise ValueError("expected 'dense' or 'N:M'")
    return NMPattern.parse(value)


Sparsity = Annotated[NMPattern | None, PlainValidator(_nm), PlainSerializer(sparsity_label)]
MAX_WINDOW = 1024  # documented limit on kernel, stride and dilation: far beyond real layers
MAX_DIM = 2**40  # documented limit on any size or count: ~10^12, beyond any real GEMM
# Strict: a JSON true, 32.0 or "32" is not the size 32.
Dim = Annotated[int, Strict(), Field(ge=1, le=MAX_DIM)]
_Side = Annotated[int, Strict(), Field(ge=1, le=MAX_WINDOW)]
Window = tuple[_Side, _Side]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    phase: Literal[Phase.FF, Phase.BP, Phase.WG]
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

    @model_validator(mode="after")
    def _check(self) -> GemmOp:
        if self.sparsity is not None and self.weight is None:
            raise ValueError("sparsity needs a weight operand (weight: A or B)")
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


class UpdateOp(_Record):
    """Optimizer update of one parameter tensor."""

    kind: Literal["update"] = "update"
    layer: str
    param: str
    elements: Dim
    optimizer: str = "sgd"


class MaskGenOp(_Record):
    """Generation of one N:M mask (and sparse weight) from a dense weight."""

    kind: Literal["maskgen"] = "maskgen"
    layer: str
    elements: Dim
    sparsity: Annotated[NMPattern, PlainValidator(_nm), PlainSerializer(str)]
    direction: Literal["FF", "BP"] = Field(description="the GEMM the mask serves")


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
    version: Literal[1] = VERSION
    name: str = Field(min_length=1)
    source: str = Field(default="", description="how the trace was made (capture, hand, csv)")
    meta: dict[str, Any] = Field(default_factory=dict, description="model, batch, method, ...")
    layers: dict[str, LayerInfo] = Field(
        default_factory=dict, description="captured weight layers by name (empty: not recorded)")


class Trace(BaseModel):
    """A header and the records of one iteration, in execution order."""

    model_config = ConfigDict(frozen=True)

    header: TraceHeader
    records: tuple[Record, ...]

    @property
    def name(self) -> str:
        return self.header.name

    @property
    def gemms(self) -> tuple[GemmOp, ...]:
        return tuple(r for r in self.records if isinstance(r, GemmOp))
