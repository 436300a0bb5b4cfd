"""What the chart and the page show beside the history, each part optional.

A chart or a page must still render when no model is trained yet or the
policy calendar cannot be read: each helper returns the part, or ``None``
with the reason, instead of failing the whole answer. Only the expected
absences are caught (no model, a bad calendar file); anything else is a bug
and propagates.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from forecasting.errors import ConfigError, ModelError
from forecasting.settings import Settings
from forecasting.store import Store
from service import backend
from service.catalog import SeriesRef

log = logging.getLogger(__name__)

ABSENT = ModelError


def forecast_or_reason(
    store: Store, ref: SeriesRef, horizon: int, level: int, as_of: str | None
) -> tuple[dict[str, Any] | None, str | None]:
    """The forecast, or why there is none (no model yet, an artifact refused)."""
    try:
        return (
            backend.get_forecast(
                store,
                ref.code,
                ref.region,
                ref.component,
                horizon=horizon,
                level=level,
                as_of=as_of,
            ),
            None,
        )
    except ABSENT as exc:
        return None, str(exc)


def backtest_or_reason(store: Store, ref: SeriesRef) -> tuple[dict[str, Any] | None, str | None]:
    """The published backtest of the current model, or why there is none."""
    try:
        return backend.get_backtest(store, ref.code, ref.region, ref.component), None
    except ABSENT as exc:
        return None, str(exc)


def events_for(settings: Settings, ref: SeriesRef, as_of: str | None) -> list[Any]:
    """Policy events touching the series; with ``as_of`` only those announced by its end."""
    try:
        events = backend.load_events(settings.data_dir / "policy_events.yaml")
    except ConfigError as exc:
        log.warning("no policy events on charts: %s", exc)
        return []
    touching = [e for e in events if not hasattr(e, "applies_to") or e.applies_to(ref.unique_id)]
    if as_of is None:
        return touching
    cutoff = pd.Timestamp(as_of) + pd.offsets.MonthEnd(0)
    return [e for e in touching if pd.Timestamp(e.announced) <= cutoff]


def alerts_for(
    store: Store, ref: SeriesRef, status: str | None = None, as_of: str | None = None
) -> list[dict[str, Any]]:
    """The series' stored alerts, up to ``as_of`` (an empty table is an empty list)."""
    alerts = backend.list_alerts(
        store, citizenship=ref.code, region=ref.region, component=ref.component, status=status
    )
    if as_of is not None:
        alerts = [a for a in alerts if str(a["month"])[:7] <= as_of]
    return alerts
