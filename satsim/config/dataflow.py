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


class DataflowPolicy(BaseModel):
    """How the STCE runs GEMMs. Switches marked 'later' are read by later model stages."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    name: str = Field(min_length=1, description="policy name shown in reports")
    stationarity: StationarityChoice | PhaseStationarity = Field(
        description="os | ws | is (SCALE-Sim conventions only) | auto (fewest cycles per op), "
                    "or one per phase")
    interleave: bool = Field(description="overlap consecutive folds in the array's pipeline")
    pregenerate: bool = Field(description="run the SORE ahead of use (later)")
    offline_schedule: bool = Field(description="schedule the iteration offline (later)")

    def stationarity_for(self, phase: Phase) -> Stationarity | None:
        """Fixed stationarity for ``phase``, or ``None`` when the mapper should choose."""
        choice = self.stationarity
        if isinstance(choice, PhaseStationarity):
            choice = getattr(choice, phase.value, "auto")
        return None if choice == "auto" else Stationarity(choice)
