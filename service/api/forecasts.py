"""``/v1/forecasts``: the stored forecast of a series, as of a past month, and its charts."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response

from forecasting.errors import UnknownSeries
from forecasting.forecasts import MAX_HORIZON
from forecasting.settings import Settings
from service import backend
from service.answers import cached_bytes, cached_json, series_headers
from service.catalog import SeriesRef
from service.charts import ChartData, render
from service.deps import AsOfQuery, SeriesDep, Services, ServicesDep, SettingsDep
from service.models import ForecastOut, Problem
from service.views import alerts_for, events_for, forecast_or_reason

router = APIRouter(prefix="/v1/forecasts", tags=["forecasts"])

HorizonQuery = Annotated[int, Query(ge=1, le=MAX_HORIZON, description="Months ahead (1-24).")]
LevelQuery = Annotated[
    int, Query(ge=80, le=95, description="Interval coverage in percent: 80 or 95.")
]
YearsQuery = Annotated[int, Query(ge=1, le=30, description="Years of history shown.")]

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "Unknown citizenship (with suggestions) or series."},
    503: {"model": Problem, "description": "No model trained for this series yet; see reason."},
}


@router.get("/{citizenship}", response_model=ForecastOut, responses=ERRORS)
async def forecast(
    services: ServicesDep,
    ref: SeriesDep,
    horizon: HorizonQuery = 12,
    level: LevelQuery = 80,
    as_of: AsOfQuery = None,
) -> Response:
    """Monthly forecast with intervals, the same JSON as ``bordercast forecast --json``.

    Read from the store (the published model's projection) and cached; with
    ``as_of`` it is computed from the data and events known through that month.
    """

    def compute() -> ForecastOut:
        return ForecastOut.model_validate(
            backend.get_forecast(
                services.store,
                ref.code,
                ref.region,
                ref.component,
                horizon=horizon,
                level=level,
                as_of=as_of,
            )
        )

    return await cached_json(
        services.answers,
        ("forecast", ref.unique_id, horizon, level, as_of),
        compute,
        series_headers(ref.unique_id, ref.defaulted),
    )


def chart_data(
    services: Services,
    settings: Settings,
    ref: SeriesRef,
    horizon: int,
    level: int,
    as_of: str | None,
) -> ChartData:
    """History, forecast (if any), events and alerts of one series, for :func:`render`."""
    history = services.store.history(ref.code, ref.region, ref.component, as_of=as_of)
    if history.empty:
        raise UnknownSeries(ref.unique_id)
    forecast, reason = forecast_or_reason(services.store, ref, horizon, level, as_of)
    alerts = alerts_for(services.store, ref, as_of=as_of)
    title = f"{ref.name} ({ref.code}) · region {ref.region} · {ref.component}"
    if as_of:
        title += f" · as of {as_of}"
    return ChartData(
        title=title,
        history=history,
        forecast=forecast,
        events=events_for(settings, ref, as_of),
        alerts=alerts,
        note=None if forecast else f"No forecast: {reason}",
    )


async def _chart(
    services: Services,
    settings: Settings,
    ref: SeriesRef,
    fmt: Literal["svg", "png"],
    horizon: int,
    level: int,
    as_of: str | None,
    years: int,
) -> Response:
    def compute() -> bytes:
        return render(chart_data(services, settings, ref, horizon, level, as_of), fmt, years)

    return await cached_bytes(
        services.answers,
        ("chart", fmt, ref.unique_id, horizon, level, as_of, years),
        compute,
        "image/svg+xml" if fmt == "svg" else "image/png",
    )


CHART_ERRORS: dict[int | str, dict[str, Any]] = {404: ERRORS[404]}


@router.get(
    "/{citizenship}/chart.svg",
    response_class=Response,
    responses={200: {"content": {"image/svg+xml": {}}}, **CHART_ERRORS},
)
async def chart_svg(
    services: ServicesDep,
    settings: SettingsDep,
    ref: SeriesDep,
    horizon: HorizonQuery = 12,
    level: LevelQuery = 80,
    as_of: AsOfQuery = None,
    years: YearsQuery = 8,
) -> Response:
    """History, forecast and interval, policy events (dotted) and alerts (triangles), as SVG.

    Without a trained model the chart shows the history and says why there is
    no forecast, rather than failing.
    """
    return await _chart(services, settings, ref, "svg", horizon, level, as_of, years)


@router.get(
    "/{citizenship}/chart.png",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}, **CHART_ERRORS},
)
async def chart_png(
    services: ServicesDep,
    settings: SettingsDep,
    ref: SeriesDep,
    horizon: HorizonQuery = 12,
    level: LevelQuery = 80,
    as_of: AsOfQuery = None,
    years: YearsQuery = 8,
) -> Response:
    """The same chart as PNG, for e-mail and chat."""
    return await _chart(services, settings, ref, "png", horizon, level, as_of, years)
