"""The one place the service calls the forecasting library's model, alert and notify code.

Every function here is a thin, lazy call into ``forecasting``: the import
happens at call time, so the service starts (and answers ``/health``) on a
checkout where a module does not exist yet, and answers 503 naming the missing
piece instead of failing at import. Wiring a new library function means
editing this file only.

Only a missing *module* counts as "not available"; an ImportError raised
inside an existing module (a broken dependency) propagates as the bug it is.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from forecasting.store import Store


class FeatureUnavailable(Exception):
    """A library module the route needs is not installed in this build (the API answers 503).

    Not a :class:`~forecasting.errors.BordercastError`: it describes the
    deployment, not the data or the request.
    """

    def __init__(self, feature: str, module: str) -> None:
        self.feature = feature
        self.module = module
        super().__init__(f"{feature} is not available in this build: needs {module}")


def _module(name: str, feature: str) -> ModuleType:
    """Import ``name``, turning its absence (and only its absence) into FeatureUnavailable."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise FeatureUnavailable(feature, name) from None
        raise


def _function(module: str, function: str, feature: str) -> Any:
    found = getattr(_module(module, feature), function, None)
    if found is None:
        raise FeatureUnavailable(feature, f"{module}.{function}")
    return found


# -- forecasts ------------------------------------------------------------------------


def get_forecast(
    store: Store,
    citizenship: str,
    region: str,
    component: str,
    horizon: int = 12,
    level: int = 80,
    as_of: str | None = None,
) -> dict[str, Any]:
    """The stored forecast (or an as-of one), shaped as ``bordercast forecast --json``.

    Raises ``NoModel`` when nothing is trained and ``UnknownSeries`` for a
    series without data; both are mapped to statuses in :mod:`service.app`.
    """
    fn = _function("forecasting.forecasts", "get_forecast", "forecasts")
    return fn(store, citizenship, region, component, horizon=horizon, level=level, as_of=as_of)


def get_backtest(store: Store, citizenship: str, region: str, component: str) -> dict[str, Any]:
    """Per-model backtest metrics published with the current model, baselines included."""
    fn = _function("forecasting.forecasts", "get_backtest", "backtests")
    return fn(store, citizenship, region, component)


def scenario_forecast(
    store: Store,
    citizenship: str,
    region: str,
    component: str,
    add_events: list[dict[str, Any]],
    remove_event_ids: list[str],
    move: dict[str, str],
    horizon: int,
    level: int,
    indicators: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """``{"baseline", "scenario", "events", ...}`` from the current model with edits.

    Indicator paths (``{"source", "change_pct", "from"}`` or ``{"source",
    "values"}``) are passed only when given, so a library without them still
    answers plain event scenarios.
    """
    fn = _function("forecasting.forecasts", "scenario_forecast", "scenarios")
    extra = {"indicators": indicators} if indicators else {}
    return fn(
        store,
        citizenship,
        region,
        component,
        add_events=add_events,
        remove_event_ids=remove_event_ids,
        move=move,
        horizon=horizon,
        level=level,
        **extra,
    )


def retrain(store: Store, series_ids: list[str] | None) -> dict[str, Any]:
    """Train and publish new model versions; runs in a worker thread of the admin route."""
    fn = _function("forecasting.forecasts", "retrain", "retraining")
    return fn(store, series_ids)


# -- policy events --------------------------------------------------------------------


def load_events(path: Path) -> list[Any]:
    """The policy calendar (``PolicyEvent`` objects) for chart markers."""
    fn = _function("forecasting.policy", "load_events", "policy events")
    return list(fn(path))


# -- alerts ---------------------------------------------------------------------------


def list_alerts(
    store: Store,
    citizenship: str | None = None,
    region: str | None = None,
    component: str | None = None,
    severity: str | None = None,
    kind: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """Stored alerts, filtered; each shaped as one entry of ``bordercast detect --json``."""
    fn = _function("forecasting.alerts", "list_alerts", "alerts")
    return fn(
        store,
        citizenship=citizenship,
        region=region,
        component=component,
        severity=severity,
        kind=kind,
        status=status,
    )


def detect_as_of(
    store: Store,
    as_of: str,
    citizenship: str | None = None,
    region: str | None = None,
    component: str | None = None,
) -> dict[str, Any]:
    """What detection found with the data through ``as_of``: ``{"as_of", "alerts"}``."""
    fn = _function("forecasting.alerts", "detect_as_of", "alerts")
    return fn(store, as_of, citizenship=citizenship, region=region, component=component)


# -- subscriptions --------------------------------------------------------------------

_tables_ready: set[str] = set()


def _notify(store: Store) -> ModuleType:
    """The notify package, with its tables created once per database (until migrations)."""
    notify = _module("forecasting.notify", "subscriptions")
    if store.url not in _tables_ready:
        create_tables = getattr(notify, "create_tables", None)
        if create_tables is not None:
            create_tables(store.engine)
        _tables_ready.add(store.url)
    return notify


def _plain(record: Any) -> dict[str, Any]:
    return record.model_dump() if hasattr(record, "model_dump") else dict(record)


def create_subscription(store: Store, spec: dict[str, Any]) -> dict[str, Any]:
    """Store a subscription; the answer never contains the secret."""
    notify = _notify(store)
    with store.engine.begin() as conn:
        return _plain(notify.create_subscription(conn, spec))


def list_subscriptions(store: Store) -> list[dict[str, Any]]:
    """Every live subscription, without secrets."""
    notify = _notify(store)
    with store.engine.begin() as conn:
        return [_plain(s) for s in notify.list_subscriptions(conn)]


def delete_subscription(store: Store, subscription_id: int) -> None:
    """Delete one subscription; ``UnknownSubscription`` (a LookupError) when absent."""
    notify = _notify(store)
    with store.engine.begin() as conn:
        notify.delete_subscription(conn, subscription_id)
