"""Alerts: surge episodes kept in the store, and one notification per transition.

:func:`surges.episodes` replays the state machine over the whole history, so
the alerts as of a month are the same however often detection runs. The
monthly run (:func:`run_detection` with ``notify=True``) writes the alerts as
of the newest month and queues, in the same transaction, a notification for
each open, escalation and resolution dated that month: a crash between the
two cannot lose or duplicate one. A replay (:func:`detect_as_of`) writes
nothing.

With ``SurgeSettings(use_indicators=True)`` the transit indicators public at
the month judged are read too, and a jump in a citizenship's Darién or
Ecuador count may open a ``watch`` on its southwest series
(:mod:`forecasting.transit_watch`); such an alert carries a ``reason``
naming the indicator and its change, kept with the stored alert and told in
its notifications (``reason`` is None when the U.S. counts opened the alert).
The default leaves it off: replayed over 2020-2025 it added more false
episodes than it removed (``bench/transit_watch.py``).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

import pandas as pd
from sqlalchemy import delete, insert, select

from forecasting import surges
from forecasting.indicators import indicator_frame
from forecasting.names import display_name
from forecasting.notify import AlertEvent, enqueue
from forecasting.schema import alerts
from forecasting.settings import get_settings
from forecasting.store import Store

STATUS_OF_ACTION = {"open": "open", "escalate": "escalated", "resolve": "resolved"}
TRANSITION_OF_ACTION = {"open": "opened", "escalate": "escalated", "resolve": "resolved"}


def _number(value: Any) -> float | None:
    number = float(value)
    return None if math.isnan(number) else round(number, 2)


def alert_id(episode: surges.Episode) -> str:
    """One id per series and episode, stable across replays."""
    return f"{episode.unique_id}/{episode.kind}/{episode.opened:%Y-%m}"


def _frame(
    store: Store,
    as_of: str | None,
    citizenship: str | None,
    region: str | None,
    component: str | None,
) -> pd.DataFrame:
    frame = store.series_frame(region=region, component=component, as_of=as_of)
    if citizenship:
        frame = frame[frame["unique_id"].str.startswith(citizenship + ":")]
    return frame


def _alerts(
    frame: pd.DataFrame,
    month: pd.Timestamp,
    settings: surges.SurgeSettings | None,
    indicators: pd.DataFrame | None = None,
) -> list[dict[str, Any]]:
    """The alerts as they stand at ``month``: open ones, and those resolved that month."""
    found = surges.episodes(frame, settings, month, indicators=indicators)
    signals = surges.detect(frame, settings, month).set_index(["unique_id", "kind"])
    observed = frame[frame["ds"] == month].set_index("unique_id")["y"]
    rows = []
    for episode in found:
        if episode.resolved is not None and episode.resolved != month:
            continue
        last = episode.events[-1]
        status = STATUS_OF_ACTION[last.action] if last.action != "open" else "open"
        if episode.resolved is None and episode.escalated:
            status = "escalated"
        key = (episode.unique_id, episode.kind)
        signal = signals.loc[key] if key in signals.index else None
        code, region, component = episode.unique_id.split(":")
        rows.append(
            {
                "id": alert_id(episode),
                "unique_id": episode.unique_id,
                "citizenship": {"code": code, "name": display_name(code)},
                "region": region,
                "component": component,
                "month": f"{month:%Y-%m}",
                "opened": f"{episode.opened:%Y-%m}",
                "kind": episode.kind,
                "severity": episode.peak_severity,
                "observed": _number(observed.get(episode.unique_id, last.observed)),
                "expected": _number(signal["expected"] if signal is not None else last.expected),
                "lower": _number(signal["lower"]) if signal is not None else None,
                "upper": _number(signal["upper"]) if signal is not None else None,
                "status": status,
                "reason": episode.reason,
                "events": [
                    {"action": e.action, "month": f"{e.ds:%Y-%m}", "severity": e.severity}
                    for e in episode.events
                ],
            }
        )
    return rows


def detect_as_of(
    store: Store,
    as_of: str | None = None,
    citizenship: str | None = None,
    region: str | None = None,
    component: str | None = None,
    settings: surges.SurgeSettings | None = None,
) -> dict[str, Any]:
    """What detection finds with the data through ``as_of`` (default: the newest month).

    Writes nothing and sends nothing: a replay an analyst can run any time.
    With ``settings.use_indicators``, the transit indicators public at that
    month are read from the store as well. Without ``settings``, the default
    thresholds apply, with transit watches as ``BORDERCAST_TRANSIT_WATCH``
    says, so the monthly run, a replay and the API agree.
    """
    if settings is None:
        settings = surges.SurgeSettings(use_indicators=get_settings().transit_watch)
    frame = _frame(store, as_of, citizenship, region, component)
    if frame.empty:
        return {"as_of": as_of, "alerts": []}
    month = frame["ds"].max() if as_of is None else pd.Timestamp(as_of)
    indicators = None
    if settings.use_indicators:
        indicators = indicator_frame(store, citizenship, as_of=month)
    return {"as_of": f"{month:%Y-%m}", "alerts": _alerts(frame, month, settings, indicators)}


def run_detection(
    store: Store,
    as_of: str | None = None,
    notify: bool = True,
    settings: surges.SurgeSettings | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """Detect as of a month, store the alerts, and queue this month's notifications.

    Returns the alerts opened, escalated and resolved in that month (what the
    monthly run reports). With ``notify=False`` the alerts are stored but no
    notification is queued.
    """
    found = detect_as_of(store, as_of, settings=settings)
    month = found["as_of"]
    changed: dict[str, list[dict[str, Any]]] = {"opened": [], "escalated": [], "resolved": []}
    now = dt.datetime.now(dt.UTC)
    with store.engine.begin() as conn:
        for alert in found["alerts"]:
            conn.execute(delete(alerts).where(alerts.c.id == alert["id"]))
            conn.execute(insert(alerts).values(**_row(alert, now)))
            for event in alert["events"]:
                if event["month"] != month:
                    continue
                transition = TRANSITION_OF_ACTION[event["action"]]
                changed[transition].append(alert)
                if notify:
                    enqueue(conn, _event(alert, transition, event["severity"]), base_url=base_url)
    return {"as_of": month, **changed}


def _row(alert: dict[str, Any], now: dt.datetime) -> dict[str, Any]:
    resolved = alert["month"] if alert["status"] == "resolved" else None
    return {
        "id": alert["id"],
        "unique_id": alert["unique_id"],
        "citizenship": alert["citizenship"]["code"],
        "region": alert["region"],
        "component": alert["component"],
        "kind": alert["kind"],
        "opened": pd.Timestamp(alert["opened"]).date(),
        "month": pd.Timestamp(alert["month"]).date(),
        "severity": alert["severity"],
        "status": alert["status"],
        "observed": alert["observed"] or 0.0,
        "expected": alert["expected"] or 0.0,
        "lower": alert["lower"],
        "upper": alert["upper"],
        "resolved": pd.Timestamp(resolved).date() if resolved else None,
        "updated_at": now,
        "reason": alert["reason"],
    }


def _event(alert: dict[str, Any], transition: str, severity: str) -> AlertEvent:
    expected = alert["expected"] or 0.0
    return AlertEvent(
        id=alert["id"],
        citizenship=alert["citizenship"]["code"],
        citizenship_name=alert["citizenship"]["name"],
        region=alert["region"],
        component=alert["component"],
        month=alert["month"],
        kind=alert["kind"],
        severity=severity,
        observed=alert["observed"] or 0.0,
        expected=expected,
        lower=alert["lower"] if alert["lower"] is not None else expected,
        upper=alert["upper"] if alert["upper"] is not None else expected,
        status=alert["status"],
        transition=transition,
        reason=alert["reason"],
    )


def list_alerts(
    store: Store,
    citizenship: str | None = None,
    region: str | None = None,
    component: str | None = None,
    severity: str | None = None,
    kind: str | None = None,
    status: str | None = None,
) -> list[dict[str, Any]]:
    """The stored alerts, newest first, filtered on any of their fields."""
    a = alerts.c
    query = select(alerts).order_by(a.month.desc(), a.unique_id)
    for column, value in (
        (a.citizenship, citizenship),
        (a.region, region),
        (a.component, component),
        (a.severity, severity),
        (a.kind, kind),
        (a.status, status),
    ):
        if value:
            query = query.where(column == value)
    with store.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        {
            "id": r["id"],
            "citizenship": {"code": r["citizenship"], "name": display_name(r["citizenship"])},
            "region": r["region"],
            "component": r["component"],
            "month": f"{pd.Timestamp(r['month']):%Y-%m}",
            "opened": f"{pd.Timestamp(r['opened']):%Y-%m}",
            "kind": r["kind"],
            "severity": r["severity"],
            "observed": r["observed"],
            "expected": r["expected"],
            "lower": r["lower"],
            "upper": r["upper"],
            "status": r["status"],
            "reason": r["reason"],
        }
        for r in rows
    ]
