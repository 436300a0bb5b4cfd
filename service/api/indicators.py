"""``/v1/indicators``: transit counts on the route north and how far they lead the border.

The JSON answer of a citizenship is computed once and cached like every other
answer; the chart and the page read the same cached bytes, so the page's
indicator panel, its table and its chart always agree with the API.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Depends, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from forecasting.errors import UnknownCitizenship, UnknownSeries
from forecasting.indicators import indicators_for
from forecasting.names import Citizenship, resolve
from service.answers import cached_bytes
from service.charts import IndicatorChartData, IndicatorLine, render_indicators
from service.deps import AsOfQuery, Services, ServicesDep, citizenship_from_path
from service.models import CitizenshipOut, Problem

router = APIRouter(prefix="/v1/indicators", tags=["indicators"])

CitizenshipDep = Annotated[Citizenship, Depends(citizenship_from_path)]

#: A correlation at the best lead from which an indicator is drawn as a solid line.
STRONG = 0.8

#: What each source counts, as the chart's legend and the page's table name it.
SOURCE_NAMES = {
    "panama-darien": "Darién crossings",
    "mexico-irregular": "Irregular migrants in Mexico",
}


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


def indicators_json(services: Services, code: str, as_of: str | None) -> bytes:
    """The answer of ``GET /v1/indicators/{code}`` as JSON bytes, cached (blocking)."""

    def compute() -> bytes:
        found = indicators_for(services.store, code, as_of)
        return IndicatorsOut.model_validate(found).model_dump_json().encode()

    return services.answers.get_or_compute(("indicators", code, as_of), compute)


def indicator_name(entry: dict[str, Any]) -> str:
    """``Darién crossings``, ``Irregular migrants in Mexico``, ``Entries into Ecuador``."""
    if entry["source"] in SOURCE_NAMES:
        return SOURCE_NAMES[entry["source"]]
    geo = entry.get("geo") or entry["id"].split(":")[0].removeprefix("entries-")
    try:
        country = resolve(geo).name
    except UnknownCitizenship:
        country = geo
    return f"Entries into {country}"


def lead_text(lead: int | None) -> str:
    """How a lead reads in the legend and the table."""
    if lead is None:
        return "no measured lead"
    if lead == 0:
        return "not shifted"
    return f"shifted +{lead} month{'s' if lead != 1 else ''}"


def ranked(found: dict[str, Any]) -> list[dict[str, Any]]:
    """The indicators, the highest correlation first and the unmeasured last."""
    return sorted(
        found["indicators"],
        key=lambda e: (e["relation"]["correlation"] is None, -(e["relation"]["correlation"] or 0)),
    )


def has_chart(found: dict[str, Any]) -> bool:
    """Whether there is anything to draw: indicators, and encounters to set them against."""
    return bool(found["indicators"]) and found["encounters"] is not None


def _frame(points: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ds": pd.to_datetime([p["month"] for p in points], format="%Y-%m"),
            "y": [float(p["count"]) for p in points],
        }
    )


def chart_data(services: Services, who: Citizenship, as_of: str | None) -> IndicatorChartData:
    """The encounters and every measured indicator of a citizenship, for :func:`render_indicators`.

    Raises
    ------
    UnknownSeries
        When the citizenship has no indicator, or no southwest encounters to
        compare them with (404, naming the citizenship).
    """
    found = json.loads(indicators_json(services, who.code, as_of))
    if not found["indicators"]:
        raise UnknownSeries(
            f"indicators:{who.code}",
            f"no transit indicators for {who.name} ({who.code}): the store holds no Darién, "
            "Mexico or regular-entries counts of that nationality",
        )
    if found["encounters"] is None:
        raise UnknownSeries(
            f"{who.code}:southwest",
            f"no southwest encounters of {who.name} ({who.code}) to set its transit "
            "indicators against",
        )
    region, component = found["encounters"]["region"], found["encounters"]["component"]
    history = services.store.history(who.code, region, component, as_of=as_of)
    lines = []
    unmeasured = []
    for entry in ranked(found):
        rel = entry["relation"]
        name = indicator_name(entry)
        if rel["lead_months"] is None:
            unmeasured.append(name)
            continue
        label = (
            f"{name}, {lead_text(rel['lead_months'])} "
            f"(r = {rel['correlation']:.2f}, {rel['start']}..{rel['end']})"
        )
        lines.append(
            IndicatorLine(
                label=label,
                history=_frame(entry["history"]),
                lead_months=rel["lead_months"],
                strong=rel["correlation"] >= STRONG,
            )
        )
    notes = [f"as of {as_of}"] if as_of else []
    if unmeasured:
        notes.append(f"not drawn, too few months to compare: {', '.join(unmeasured)}")
    return IndicatorChartData(
        title=f"{who.name} ({who.code}) · transit indicators shifted by their lead",
        encounters=history,
        encounters_label=f"{region} encounters ({component}), not shifted",
        lines=lines,
        note="; ".join(notes) or None,
    )


@router.get(
    "/{citizenship}",
    response_model=IndicatorsOut,
    responses={404: {"model": Problem, "description": "Unknown citizenship."}},
)
async def indicators(
    services: ServicesDep, citizenship: CitizenshipDep, as_of: AsOfQuery = None
) -> Response:
    """Darién, Mexico and regular-entries counts of a nationality, and their lead on the border.

    Each relation is measured only on what was public at ``as_of`` (each
    source's publication lag included), as the CLI's ``indicators`` does.
    """
    body = services.answers.get(("indicators", citizenship.code, as_of))
    if body is None:
        body = await run_in_threadpool(indicators_json, services, citizenship.code, as_of)
    return Response(body, media_type="application/json")


CHART_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {
        "model": Problem,
        "description": "Unknown citizenship (with suggestions), or one without indicators.",
    }
}


async def _chart(
    services: Services, who: Citizenship, fmt: Literal["svg", "png"], as_of: str | None
) -> Response:
    def compute() -> bytes:
        return render_indicators(chart_data(services, who, as_of), fmt)

    return await cached_bytes(
        services.answers,
        ("indicator-chart", fmt, who.code, as_of),
        compute,
        "image/svg+xml" if fmt == "svg" else "image/png",
    )


@router.get(
    "/{citizenship}/chart.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **CHART_ERRORS},
)
async def chart_svg(
    services: ServicesDep, citizenship: CitizenshipDep, as_of: AsOfQuery = None
) -> Response:
    """Southwest encounters and each transit series shifted forward by its measured lead, as SVG.

    One log axis; the legend gives each series' lead, correlation and the
    months compared. An indicator whose lead could not be measured is named
    in the corner, not drawn.
    """
    return await _chart(services, citizenship, "svg", as_of)


@router.get(
    "/{citizenship}/chart.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **CHART_ERRORS},
)
async def chart_png(
    services: ServicesDep, citizenship: CitizenshipDep, as_of: AsOfQuery = None
) -> Response:
    """The same chart as PNG."""
    return await _chart(services, citizenship, "png", as_of)
