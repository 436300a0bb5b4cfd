"""``/v1/series``: what the store holds, one series' history, and the figures reporting quotes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from service.answers import cached_json, series_headers
from service.catalog import SeriesRef
from service.deps import AsOfQuery, ComponentQuery, RegionQuery, SeriesDep, ServicesDep
from service.models import (
    CitizenshipOut,
    HistoryOut,
    HistoryPoint,
    Problem,
    SeriesList,
    SeriesOut,
    StatsOut,
)
from service.stats import series_stats

router = APIRouter(prefix="/v1/series", tags=["series"])

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "Unknown citizenship or series."}
}


def _head(ref: SeriesRef, as_of: str | None) -> dict[str, Any]:
    return {
        "citizenship": CitizenshipOut(code=ref.code, name=ref.name),
        "region": ref.region,
        "component": ref.component,
        "as_of": as_of,
        "note": ref.note,
    }


@router.get("", response_model=list[SeriesOut])
async def list_series(
    services: ServicesDep, region: RegionQuery = None, component: ComponentQuery = None
) -> Response:
    """Every series with data: first and last month, last count, and whether it still reports."""

    def compute() -> SeriesList:
        return SeriesList(
            [
                SeriesOut(**s.__dict__)
                for s in services.catalog.series()
                if (region is None or s.region == region)
                and (component is None or s.component == component)
            ]
        )

    return await cached_json(services.answers, ("series", region, component), compute)


@router.get("/{citizenship}/history", response_model=HistoryOut, responses=NOT_FOUND)
async def history(services: ServicesDep, ref: SeriesDep, as_of: AsOfQuery = None) -> Response:
    """Monthly counts, oldest first; with ``as_of``, only the months through it."""

    def compute() -> HistoryOut:
        frame = services.store.history(ref.code, ref.region, ref.component, as_of=as_of)
        points = [
            HistoryPoint(month=ds.strftime("%Y-%m"), count=round(float(y)))
            for ds, y in zip(frame["ds"], frame["y"], strict=True)
        ]
        return HistoryOut(**_head(ref, as_of), history=points)

    return await cached_json(
        services.answers,
        ("history", ref.unique_id, ref.note, as_of),
        compute,
        series_headers(ref.unique_id, ref.defaulted),
    )


@router.get("/{citizenship}/stats", response_model=StatsOut, responses=NOT_FOUND)
async def stats(services: ServicesDep, ref: SeriesDep, as_of: AsOfQuery = None) -> Response:
    """Fiscal- and calendar-year totals, trailing 12-month means and their change.

    China at the southwest border (``region=southwest&component=usbp``) on the
    bundled OHSS data: FY2023 = 24,050, calendar 2023 = 37,160, and with
    ``as_of=2023-07`` a trailing 12-month mean more than 1,000% above the 12
    months before.
    """

    def compute() -> StatsOut:
        frame = services.store.history(ref.code, ref.region, ref.component, as_of=as_of)
        return StatsOut(**_head(ref, as_of), **series_stats(frame))

    return await cached_json(
        services.answers,
        ("stats", ref.unique_id, ref.note, as_of),
        compute,
        series_headers(ref.unique_id, ref.defaulted),
    )
