"""The library functions the service calls, in one place.

Routes call ``backend.get_forecast(...)`` and so on at request time, never a
name imported into the route module, so there is one seam where a test can
put a stand-in (``monkeypatch.setattr(backend, "get_forecast", fake)``) to
exercise the service's own behaviour: caching, retrain isolation, errors.
Subscriptions get the transaction they need here; everything else is the
library's function itself.
"""

from __future__ import annotations

from typing import Any

from forecasting import notify
from forecasting.alerts import detect_as_of, list_alerts
from forecasting.forecasts import get_backtest, get_forecast, retrain, scenario_forecast
from forecasting.policy import load_events
from forecasting.store import Store

__all__ = [
    "create_subscription",
    "delete_subscription",
    "detect_as_of",
    "get_backtest",
    "get_forecast",
    "list_alerts",
    "list_subscriptions",
    "load_events",
    "retrain",
    "scenario_forecast",
]


def _plain(record: Any) -> dict[str, Any]:
    return record.model_dump() if hasattr(record, "model_dump") else dict(record)


def create_subscription(store: Store, spec: dict[str, Any]) -> dict[str, Any]:
    """Store a subscription; the answer never contains the secret."""
    with store.engine.begin() as conn:
        return _plain(notify.create_subscription(conn, spec))


def list_subscriptions(store: Store) -> list[dict[str, Any]]:
    """Every live subscription, without secrets."""
    with store.engine.begin() as conn:
        return [_plain(s) for s in notify.list_subscriptions(conn)]


def delete_subscription(store: Store, subscription_id: int) -> None:
    """Delete one subscription; ``UnknownSubscription`` (a LookupError) when absent."""
    with store.engine.begin() as conn:
        notify.delete_subscription(conn, subscription_id)
