"""``/v1/indicators``: transit counts on the route north and how far they lead the border."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from forecasting.indicators import indicators_for
from forecasting.names import Citizenship
from service.deps import AsOfQuery, ServicesDep, citizenship_from_path
from service.models import CitizenshipOut, Problem

router = APIRouter(prefix="/v1/indicators", tags=["indicators"])


class IndicatorPoint(BaseModel):
    month: str
    count: float


class AnnualPoint(BaseModel):
    year: int
    count: float


class Relation(BaseModel):
    lead_months: int | None = Field(description="Lead with the highest correlation.")
    correlation: float | None
    start: str | None = Field(description="First encounter month compared.")
    end: str | None
    n: int


class IndicatorOut(BaseModel):
    id: str = Field(examples=["panama-darien:CN"])
    source: str
    geo: str | None = None
    lag_months: int = Field(description="Months after CBP's month that the count is public.")
    history: list[IndicatorPoint]
    annual: list[AnnualPoint] = Field(default_factory=list)
    relation: Relation


class EncounterRef(BaseModel):
    region: str
    component: str


class IndicatorsOut(BaseModel):
    citizenship: CitizenshipOut
    as_of: str | None
    encounters: EncounterRef | None
    indicators: list[IndicatorOut]


@router.get(
    "/{citizenship}",
    response_model=IndicatorsOut,
    responses={404: {"model": Problem, "description": "Unknown citizenship."}},
)
async def indicators(
    services: ServicesDep,
    citizenship: Annotated[Citizenship, Depends(citizenship_from_path)],
    as_of: AsOfQuery = None,
) -> IndicatorsOut:
    """Darién, Mexico and regular-entries counts of a nationality, and their lead on the border.

    Each relation is measured only on what was public at ``as_of`` (each
    source's publication lag included), as the CLI's ``indicators`` does.
    """
    found = await run_in_threadpool(indicators_for, services.store, citizenship.code, as_of)
    return IndicatorsOut.model_validate(found)
