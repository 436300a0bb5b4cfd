"""``GET /``: the page where a user picks a series and sees chart, forecast, backtest and alerts.

Rendered on the server, so it works without JavaScript and a missing model or
alert module shows as a sentence, not as a failed request in the console; a
few lines of script submit the form when a control changes. The transit
indicators' panel is rendered only for a citizenship that has them, so its
chart is never a 404 in the console.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from forecasting.errors import UnknownCitizenship, UnknownSeries
from forecasting.names import Citizenship, resolve
from forecasting.settings import get_settings
from service.api.indicators import has_chart, indicator_name, indicators_json, ranked
from service.catalog import Catalog, SeriesRef
from service.deps import ComponentQuery, RegionQuery, ServicesDep
from service.stats import series_stats
from service.views import alerts_for, backtest_or_reason, forecast_or_reason

router = APIRouter(tags=["page"])
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")


#: Backtest figures shown on the page, over horizons 1-6, with their column titles.
BACKTEST_COLUMNS = {
    "rel_mae": "MAE vs random walk",
    "mase": "MASE",
    "smape": "sMAPE",
    "cov-80": "80% covers",
    "cov-95": "95% covers",
}


def backtest_table(backtest: dict[str, Any] | None) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per model (the served one and the baselines) of its figures over horizons 1-6."""
    if not backtest:
        return [], []
    rows = []
    for name, per_horizon in backtest.get("models", {}).items():
        figures = per_horizon.get("all", {})
        row: dict[str, Any] = {"model": name}
        for key, title in BACKTEST_COLUMNS.items():
            value = figures.get(key)
            row[title] = None if value is None else round(float(value), 3)
        rows.append(row)
    return ["model", *BACKTEST_COLUMNS.values()], rows


def indicator_table(found: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per transit series, the highest correlation first: what the panel's table shows."""
    rows = []
    for entry in ranked(found):
        rel = entry["relation"]
        last = entry["history"][-1] if entry["history"] else None
        rows.append(
            {
                "name": indicator_name(entry),
                "id": entry["id"],
                "lead": rel["lead_months"],
                "correlation": rel["correlation"],
                "months": f"{rel['start']} to {rel['end']}" if rel["start"] else None,
                "n": rel["n"],
                "last": last,
            }
        )
    return rows


def _choose(
    catalog: Catalog, citizenship: Citizenship, region: str | None, component: str | None
) -> SeriesRef:
    """The series asked for, or the nearest that exists: a control left over from the
    previous citizenship must not turn the page into an error."""
    try:
        return catalog.choose(citizenship, region, component)
    except UnknownSeries:
        if region is None and component is None:
            raise
    for r, c in ((region, None), (None, component), (None, None)):
        try:
            ref = catalog.choose(citizenship, r, c)
        except UnknownSeries:
            continue
        note = f"no data for region={region} component={component}; showing the nearest series"
        return replace(ref, note=note)
    raise UnknownSeries(citizenship.code)


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def index(
    request: Request,
    services: ServicesDep,
    citizenship: Annotated[str, Query(max_length=100)] = "CN",
    region: RegionQuery = None,
    component: ComponentQuery = None,
) -> HTMLResponse:
    """The page; an unknown citizenship or series shows the error on the page with 404."""
    catalog = services.catalog
    context: dict[str, Any] = {
        "citizenships": catalog.citizenships(),
        "query": citizenship,
        "error": None,
        "suggestions": [],
    }
    status = 200
    ref: SeriesRef | None = None
    try:
        ref = _choose(catalog, resolve(citizenship), region, component)
    except UnknownCitizenship as exc:
        context.update(error=str(exc), suggestions=exc.suggestions)
        status = 404
    except UnknownSeries as exc:
        context["error"] = str(exc)
        status = 404
    if ref is not None:
        store = services.store
        history = store.history(ref.code, ref.region, ref.component)
        forecast, forecast_reason = forecast_or_reason(store, ref, 12, 80, None)
        backtest, backtest_reason = backtest_or_reason(store, ref)
        alerts = alerts_for(store, ref)
        alerts = [a for a in alerts if a["status"] != "resolved"]  # open and escalated
        columns, rows = backtest_table(backtest)
        chart_query = urlencode({"region": ref.region, "component": ref.component})
        found = json.loads(indicators_json(services, ref.code, None))
        if has_chart(found):
            context.update(
                indicators=indicator_table(found),
                indicator_encounters=found["encounters"],
                indicator_chart_url=f"/v1/indicators/{ref.code}/chart.svg",
                indicator_png_url=f"/v1/indicators/{ref.code}/chart.png",
            )
        context.update(
            ref=ref,
            parts=catalog.parts(ref.code),
            stats=series_stats(history),
            forecast=forecast,
            forecast_reason=forecast_reason,
            backtest_columns=columns,
            backtest_rows=rows,
            backtest_reason=backtest_reason,
            alerts=alerts,
            chart_url=f"/v1/forecasts/{ref.code}/chart.svg?{chart_query}",
            png_url=f"/v1/forecasts/{ref.code}/chart.png?{chart_query}",
            api_key_set=get_settings().api_key is not None,
        )
    return templates.TemplateResponse(request, "index.html", context, status_code=status)
