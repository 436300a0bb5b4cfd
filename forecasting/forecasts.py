"""Forecasts as users ask for them: stored, as of a past month, or under a scenario.

The current forecast is read from the registry (computed at training time),
so answering it costs a query. An as-of forecast is what a training at that
month would have served: the month's training plan (the choice, the global
model and the calibration, from the data known then; kept by
:mod:`forecasting.vintages`) fits the series exactly as ``train`` does.
Where no plan is kept and none is to be built, the answer is the quick
refit of the series alone (no global model, its own intervals), and says
so. Every answer has the shape of ``bordercast forecast --json``.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from forecasting import indicator_scenarios, models
from forecasting.errors import ConfigError, ModelError, NoModel, UnknownSeries
from forecasting.names import resolve
from forecasting.policy import PolicyEvent, load_events, parse_event
from forecasting.registry import ModelVersion, Registry
from forecasting.settings import get_settings
from forecasting.store import Store, series_id
from forecasting.training import (
    LEVELS,
    TrainingPlan,
    contiguous,
    plan_at,
    policy_path,
    train,
    train_one,
)
from forecasting.vintages import config_of

MAX_HORIZON = 24


def _check(horizon: int, level: int) -> None:
    if not 1 <= horizon <= MAX_HORIZON:
        raise ConfigError(f"horizon must be between 1 and {MAX_HORIZON} months, got {horizon}")
    if level not in LEVELS:
        raise ConfigError(f"level must be one of {', '.join(map(str, LEVELS))}, got {level}")


def _registry(store: Store) -> Registry:
    return Registry(store, get_settings().model_dir)


def _answer(
    code: str,
    region: str,
    component: str,
    as_of: pd.Timestamp,
    model: dict[str, Any],
    level: int,
    forecast: pd.DataFrame | None,
    status: str = "ok",
    message: str = "",
) -> dict[str, Any]:
    rows = (
        []
        if forecast is None
        else [
            {
                "month": f"{r.ds:%Y-%m}",
                "mean": round(float(r.mean), 1),
                "lower": round(float(r.lower), 1),
                "upper": round(float(r.upper), 1),
            }
            for r in forecast.itertuples(index=False)
        ]
    )
    return {
        "citizenship": {"code": code, "name": resolve(code).name},
        "region": region,
        "component": component,
        "as_of": f"{as_of:%Y-%m}",
        "status": status,
        "message": message,
        "model": model,
        "level": level,
        "forecast": rows,
    }


def published_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """The served model's backtest figures (a version's ``metrics``) beside the baselines'.

    A model trained with transit indicators adds ``indicators``: per horizon,
    whether the forecast uses them and the with/without scores that chose it.
    """
    per_model = metrics.get("series", {})
    out = {
        "chosen": metrics.get("chosen"),
        "series": {m: v.get("all", {}) for m, v in per_model.items()},
        "overall": {
            m: {k: v.get(k) for k in ("rel_mae", "worst_h", "cov-80", "cov-95")}
            for m, v in metrics.get("overall", {}).items()
        },
    }
    if "indicators" in metrics:
        out["indicators"] = metrics["indicators"]
    return out


def get_forecast(
    store: Store,
    citizenship: str,
    region: str,
    component: str,
    horizon: int = 12,
    level: int = 80,
    as_of: str | None = None,
    build: bool = False,
) -> dict[str, Any]:
    """The forecast of one series: the stored one, or what the model said ``as_of``.

    An as-of forecast comes from the month's kept training plan; ``build``
    makes and keeps it when missing (about 35 s), else the answer is the
    quick refit of the series alone, marked ``model.exact: false``.

    Raises
    ------
    UnknownCitizenship, UnknownSeries
        For a name or a series the store does not know.
    NoModel
        Before the series' first training (current forecasts only).
    ConfigError
        For a horizon or level out of range.
    """
    _check(horizon, level)
    code = resolve(citizenship).code
    uid = series_id(code, region, component)
    if as_of is not None:
        return _as_of(store, code, region, component, horizon, level, as_of, build)
    history = store.history(code, region, component)  # UnknownSeries before NoModel
    registry = _registry(store)
    try:
        version = registry.current(uid)
    except NoModel:
        stopped = _stopped(store, uid, history["ds"].max())
        if stopped is None:
            raise
        return _answer(
            code,
            region,
            component,
            history["ds"].max(),
            {"version": None, "kind": "none", "data_cutoff": None, "metrics": {}, "effects": {}},
            level,
            None,
            status="stopped",
            message=stopped,
        )
    if horizon <= 12:
        stored = registry.stored_forecast(version, level).head(horizon)
    else:
        predicted = registry.load(version).predict(horizon, LEVELS)
        stored = predicted.rename(columns={f"lo-{level}": "lower", f"hi-{level}": "upper"})
    model = {
        "version": version.version,
        "kind": version.kind,
        "data_cutoff": version.data_cutoff,
        "metrics": published_metrics(version.metrics),
        "effects": {},
        "exact": True,
    }
    return _answer(
        code,
        region,
        component,
        pd.Timestamp(version.data_cutoff),
        model,
        level,
        stored[["ds", "mean", "lower", "upper"]],
    )


def _stopped(store: Store, uid: str, last: pd.Timestamp) -> str | None:
    """Why a series is not forecast, if its source stopped reporting it; else None."""
    info = next((s for s in store.series() if s.unique_id == uid), None)
    if info is None or info.reporting:
        return None
    return (
        f"not forecast: {uid} stopped being reported after {last:%Y-%m} "
        "(CBP folds it into OTHER); it is not read as zero"
    )


def _as_of(
    store: Store,
    code: str,
    region: str,
    component: str,
    horizon: int,
    level: int,
    as_of: str,
    build: bool = False,
) -> dict[str, Any]:
    """What the model said as of a month: from the month's plan if kept (or ``build``), else
    the quick refit of the series alone, marked ``exact: false``."""
    uid = series_id(code, region, component)
    month = pd.Timestamp(as_of).to_period("M").to_timestamp()
    try:
        version: ModelVersion | None = _registry(store).current(uid)
    except NoModel:
        version = None
    how = config_of(version, get_settings().train_indicators)
    plan = plan_at(store, month, how, build=build)
    if plan is not None and (plan.frame["unique_id"] == uid).any():
        return _from_plan(plan, code, region, component, horizon, level)
    answer = _refit(store, code, region, component, horizon, level, month)
    if answer["status"] != "stopped":
        answer["model"]["exact"] = False
        answer["message"] = (
            f"approximate: no training plan as of {month:%Y-%m} is kept, so this refits the "
            "series alone (no global model, its own intervals); "
            f"`bordercast backfill --from {month:%Y-%m}` keeps one"
        )
    return answer


def _from_plan(
    plan: TrainingPlan, code: str, region: str, component: str, horizon: int, level: int
) -> dict[str, Any]:
    """The series fitted from a month's plan exactly as a training then would have."""
    uid = series_id(code, region, component)
    last = plan.frame.loc[plan.frame["unique_id"] == uid, "ds"].max()
    if uid in plan.stopped:
        none: dict[str, Any] = {"version": None, "kind": "none", "data_cutoff": None, "metrics": {}}
        return _answer(
            code,
            region,
            component,
            last,
            none,
            level,
            None,
            status="stopped",
            message=f"not forecast: {uid} stopped being reported after {last:%Y-%m}",
        )
    result = train_one(plan, uid)
    if not result.ok or result.record is None:
        raise ModelError(f"{uid} as of {plan.cutoff:%Y-%m}: {result.error}")
    model = result.record.artifact
    predicted = model.predict(horizon, LEVELS)
    forecast = predicted.rename(columns={f"lo-{level}": "lower", f"hi-{level}": "upper"})
    chosen = getattr(model, "chosen_", None)
    info = {
        "version": None,
        "kind": result.record.kind,
        "data_cutoff": f"{plan.cutoff:%Y-%m}",
        "metrics": published_metrics(result.record.metrics),
        "effects": model.effects() if hasattr(model, "effects") else {},
        "exact": True,
    }
    status = "sparse" if isinstance(chosen, models.SparseMedian) else "ok"
    return _answer(code, region, component, last, info, level, forecast, status=status)


def _refit(
    store: Store,
    code: str,
    region: str,
    component: str,
    horizon: int,
    level: int,
    month: pd.Timestamp,
) -> dict[str, Any]:
    uid = series_id(code, region, component)
    frame = contiguous(store.series_frame(region=region, component=component, as_of=month))
    if not (frame["unique_id"] == uid).any():
        raise UnknownSeries(uid, f"no data for series {uid} up to {month:%Y-%m}")
    result = models.forecast_series(frame, uid, horizon, month, levels=(level,))
    forecast = None
    if result.forecast is not None:
        forecast = result.forecast.rename(columns={f"lo-{level}": "lower", f"hi-{level}": "upper"})[
            ["ds", "mean", "lower", "upper"]
        ]
    model = {
        "version": None,
        "kind": result.model,
        "data_cutoff": f"{result.as_of:%Y-%m}",
        "metrics": {},
        "effects": result.effects,
    }
    return _answer(
        code,
        region,
        component,
        result.as_of,
        model,
        level,
        forecast,
        status=result.status,
        message=result.message,
    )


def get_backtest(store: Store, citizenship: str, region: str, component: str) -> dict[str, Any]:
    """Per-model, per-horizon backtest figures stored with the current model."""
    code = resolve(citizenship).code
    version = _registry(store).current(series_id(code, region, component))
    return {
        "citizenship": {"code": code, "name": resolve(code).name},
        "region": region,
        "component": component,
        "model": {
            "version": version.version,
            "kind": version.kind,
            "data_cutoff": version.data_cutoff,
        },
        "chosen": version.metrics.get("chosen"),
        "models": version.metrics.get("series", {}),
        "overall": version.metrics.get("overall", {}),
    }


def scenario_forecast(
    store: Store,
    citizenship: str,
    region: str,
    component: str,
    add_events: list[dict[str, Any]] | None = None,
    remove_event_ids: list[str] | None = None,
    move: dict[str, str] | None = None,
    horizon: int = 12,
    level: int = 80,
    indicators: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The current forecast beside the same forecast with policy events or indicator paths edited.

    The events' effect is measured by Prophet with the policy regressors,
    fitted twice on the same history (calendar as it is, calendar edited);
    the indicator paths' effect by the relay (:class:`~forecasting.relay.Relay`),
    read month by month twice over the indicators (carried forward, edited;
    see :mod:`forecasting.indicator_scenarios`). The sum of the two differences
    on the log scale shifts the current model's forecast and its interval.
    So the baseline is exactly what the service serves, and the scenario
    differs from it by the edits alone; without edits it equals the baseline.

    Parameters
    ----------
    indicators
        Indicator paths, each ``{"source", "change_pct", "from"}`` or
        ``{"source", "values": {"YYYY-MM": count}}``
        (:func:`~forecasting.indicator_scenarios.parse_edit`).

    Returns
    -------
    dict
        ``baseline``, ``scenario`` (both in the shape of :func:`get_forecast`),
        ``events`` (the calendar the scenario used), ``indicators`` (per
        path: lead, correlation, the path and its effect per month) and
        ``indicator_effect`` (per month, all paths together).

    Raises
    ------
    ConfigError
        For an unknown event id, an invalid added event or indicator path.
    UnknownSeries
        For an indicator source the citizenship has no series of.
    NoModel
        Before the series' first training.
    """
    _check(horizon, level)
    code = resolve(citizenship).code
    base = load_events(policy_path())
    known = {e.id for e in base}
    unknown = sorted((set(remove_event_ids or []) | set(move or {})) - known)
    if unknown:
        raise ConfigError(
            f"unknown policy event(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    edited = [
        _moved(e, (move or {}).get(e.id)) for e in base if e.id not in (remove_event_ids or [])
    ]
    edited += [parse_event(raw, f"add_events[{i}]") for i, raw in enumerate(add_events or [])]
    paths = indicator_scenarios.parse_edits(indicators or [])
    if paths:
        indicator_scenarios.check_sources(store, code, paths)
    baseline = get_forecast(store, code, region, component, horizon, level)
    # the baseline's months: a store updated since the training must not shift them
    history = store.history(code, region, component, as_of=baseline["as_of"]).assign(
        unique_id=series_id(code, region, component)
    )
    last = history["ds"].max()
    shift = [0.0] * horizon
    if add_events or remove_event_ids or move:
        shift = _effect(history, horizon, _announced(base, last), _announced(edited, last))
    moved: dict[str, Any] = {"effect": [], "indicators": []}
    if paths:
        moved = indicator_scenarios.indicator_scenario(
            store, code, region, component, paths, horizon, as_of=baseline["as_of"]
        )
        shift = [s + e["log_change"] for s, e in zip(shift, moved["effect"], strict=True)]
    scenario = {
        **baseline,
        "model": {**baseline["model"], "kind": "scenario"},
        "forecast": [_shifted(p, d) for p, d in zip(baseline["forecast"], shift, strict=False)],
    }
    return {
        "baseline": baseline,
        "scenario": scenario,
        "events": [{"id": e.id, "date": f"{e.date:%Y-%m-%d}", "kind": e.kind} for e in edited],
        "indicators": moved["indicators"],
        "indicator_effect": moved["effect"],
    }


def _effect(
    history: pd.DataFrame, horizon: int, before: list[PolicyEvent], after: list[PolicyEvent]
) -> list[float]:
    """Log1p change per month that editing the calendar makes to Prophet's forecast."""
    original = models.ProphetModel(before).fit(history).point_log(horizon)
    changed = models.ProphetModel(after).fit(history).point_log(horizon)
    return [float(c - o) for c, o in zip(changed, original, strict=True)]


def _shifted(point: dict[str, Any], delta: float) -> dict[str, Any]:
    import math

    def move(value: float) -> float:
        return round(max(math.expm1(math.log1p(value) + delta), 0.0), 1)

    return {
        "month": point["month"],
        "mean": move(point["mean"]),
        "lower": move(point["lower"]),
        "upper": move(point["upper"]),
    }


def _moved(event: PolicyEvent, date: str | None) -> PolicyEvent:
    if date is None:
        return event
    from dataclasses import replace

    return replace(event, date=pd.Timestamp(date))


def _announced(events: list[PolicyEvent], last: pd.Timestamp) -> list[PolicyEvent]:
    """A scenario's events count as known now, whatever their announcement date."""
    from dataclasses import replace

    return [replace(e, announced=min(e.announced, last)) for e in events]


def retrain(store: Store, series_ids: list[str] | None = None) -> dict[str, Any]:
    """Train and publish new versions (the admin route runs this in the background)."""
    return train(store, series_ids)
