"""Dataflow policy: how ops are mapped onto the array and which SAT optimizations are on."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from satsim.types import Phase, Stationarity

StationarityChoice = Literal["os", "ws", "is", "auto"]


class PhaseStationarity(BaseModel):
    """Per-phase stationarity: ``{FF: ws, BP: os, WG: ws}``; phases left out use ``auto``."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    FF: StationarityChoice = "auto"
    BP: StationarityChoice = "auto"
    WG: StationarityChoice = "auto"


class InterleaveChoice(BaseModel):
    """The two halves of interleave mapping, when they differ."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    folds: bool = Field(description="overlap consecutive folds in the array's pipeline")
    ops: bool = Field(description="run a GEMM and a vector/SORE op side by side where the "
                                  "tensor graph allows, their transfers interleaved on the DMA")


class DataflowPolicy(BaseModel):
    """How the STCE runs GEMMs and how the iteration is scheduled (SAT's optimizations)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1, description="policy name shown in reports")
    # Documentation, not the policy: left out of dumps (results, schedule fingerprints).
    description: str = Field(default="", exclude=True,
                             description="one line on what it is, shown by satsim list")
    stationarity: StationarityChoice | PhaseStationarity = Field(
        description="os | ws | is (SCALE-Sim conventions only) | auto (fewest cycles per op), "
                    "or one per phase")
    interleave: bool | InterleaveChoice = Field(
        description="interleave mapping: overlap consecutive folds in the array's pipeline, "
                    "and run a GEMM and a vector/SORE op side by side where the tensor "
                    "graph allows, their transfers interleaved on the DMA; or each alone: "
                    "{folds: true, ops: false}")
    pregenerate: bool = Field(
        description="pre-generation of sparse weights: the SORE runs ahead on a lane and "
                    "buffer (masks) of its own from the start of the iteration, instead of "
                    "on demand before each layer's FF GEMM")
    offline_schedule: bool = Field(
        description="offline scheduling: time the candidate issue orders of the iteration "
                    "(the trace's; the backward chain before the weight-gradient side work) "
                    "and keep the fastest")

    @property
    def interleave_folds(self) -> bool:
        """Whether consecutive folds overlap in the array."""
        choice = self.interleave
        return choice.folds if isinstance(choice, InterleaveChoice) else choice

    @property
    def interleave_ops(self) -> bool:
        """Whether a GEMM and a stream op run side by side."""
        choice = self.interleave
        return choice.ops if isinstance(choice, InterleaveChoice) else choice

    def stationarity_for(self, phase: Phase) -> Stationarity | None:
        """Fixed stationarity for ``phase``, or ``None`` when the mapper should choose."""
        choice = self.stationarity
        if isinstance(choice, PhaseStationarity):
            choice = getattr(choice, phase.value, "auto")
        return None if choice == "auto" else Stationarity(choice)
