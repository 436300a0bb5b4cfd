"""What a notification says: the alert event, the e-mail text, the webhook JSON.

Rendering happens once, when a notification is queued, and the result is kept
in the outbox: every retry sends the same bytes (so the signature covers what
the receiver gets, and a later change to the alert cannot rewrite a message
already on its way).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal, get_args
from urllib.parse import urlencode

Transition = Literal["opened", "escalated", "resolved"]
Kind = Literal["surge", "drop"]
Severity = Literal["watch", "warning", "critical", "drop"]
Status = Literal["open", "escalated", "resolved"]

TRANSITIONS: tuple[str, ...] = get_args(Transition)
KINDS: tuple[str, ...] = get_args(Kind)
SEVERITIES: tuple[str, ...] = get_args(Severity)
STATUSES: tuple[str, ...] = get_args(Status)

#: Fixed namespace so that the same alert transition always gets the same event id.
_EVENT_NAMESPACE = uuid.UUID("6f1d4f2e-5b1a-4c59-9a57-0c6e2a4b8d10")

_REGIONS = {
    "southwest": "the southwest border",
    "northern": "the northern border",
    "other": "other borders (coastal and other)",
    "all": "all borders",
}
_COMPONENTS = {
    "usbp": "Border Patrol (USBP)",
    "ofo": "Field Operations (OFO)",
    "all": "USBP and OFO",
}


@dataclass(frozen=True)
class AlertEvent:
    """One alert as it stands after a transition, plus that transition.

    The alert code builds one of these when an alert opens, escalates or
    resolves and hands it to :func:`forecasting.notify.enqueue` inside the
    transaction that changes the alert.

    Attributes
    ----------
    id : str
        The alert's id; one alert per series and episode.
    citizenship, citizenship_name : str
        The code (``CN``, ``ALL``) and its display name (``China``).
    region, component : str
        As in the store: ``southwest``/``northern``/``other``/``all`` and
        ``usbp``/``ofo``/``all``.
    month : str
        ``YYYY-MM``, the month the numbers are for.
    kind : {'surge', 'drop'}
    severity : {'watch', 'warning', 'critical', 'drop'}
        For ``resolved``, the highest severity the alert reached, so that a
        subscriber who was told it opened or escalated is told it ended.
    observed, expected, lower, upper : float
        Encounters that month, the forecast made the month before, and its
        interval bounds.
    status : {'open', 'escalated', 'resolved'}
    transition : {'opened', 'escalated', 'resolved'}
        Why this notification goes out; also names it in the outbox.
    reason : str, optional
        What opened the alert when a transit indicator did (``Darién crossings
        by nationals of China: 56 in 2022-03, x2.3 their 6-month mean (24)``);
        None when the U.S. counts did. It stays with the alert, so its
        escalation and resolution carry it too. Not part of :attr:`event_id`.
    """

    id: str
    citizenship: str
    citizenship_name: str
    region: str
    component: str
    month: str
    kind: str
    severity: str
    observed: float
    expected: float
    lower: float
    upper: float
    status: str
    transition: str
    reason: str | None = None

    def __post_init__(self) -> None:
        for name, allowed in (
            ("kind", KINDS),
            ("severity", SEVERITIES),
            ("status", STATUSES),
            ("transition", TRANSITIONS),
        ):
            value = getattr(self, name)
            if value not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
        try:
            dt.datetime.strptime(self.month, "%Y-%m")
        except (TypeError, ValueError):
            raise ValueError(f"month must be YYYY-MM, got {self.month!r}") from None
        # numpy scalars and Decimals from the store become plain floats, so JSON works.
        for name in ("observed", "expected", "lower", "upper"):
            value = float(getattr(self, name))
            if not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
            object.__setattr__(self, name, value)
        if self.reason is not None:
            if not isinstance(self.reason, str):
                raise ValueError(f"reason must be text or None, got {self.reason!r}")
            # One line in the e-mail; an empty reason is none.
            object.__setattr__(self, "reason", " ".join(self.reason.split()) or None)

    @classmethod
    def from_alert(cls, alert: Mapping[str, Any] | Any, transition: str) -> AlertEvent:
        """Build the event from an alert dict or object carrying the same field names.

        ``reason`` may be missing (an alert the U.S. counts opened); every
        other field must be there.
        """
        names = [f.name for f in fields(cls) if f.name not in ("transition", "reason")]
        if isinstance(alert, Mapping):
            values = {name: alert[name] for name in names}
            reason = alert.get("reason")
        else:
            values = {name: getattr(alert, name) for name in names}
            reason = getattr(alert, "reason", None)
        return cls(**values, transition=transition, reason=reason)

    @property
    def event_id(self) -> str:
        """The id of this transition: stable, so queueing it twice sends it once.

        Derived from alert id, transition and severity (two escalations of one
        alert differ by severity). It is the ``Bordercast-Event-Id`` header and
        the receiver's idempotency key; retries repeat it.
        """
        key = f"{self.id}|{self.transition}|{self.severity}"
        return f"evt_{uuid.uuid5(_EVENT_NAMESPACE, key).hex}"


def percent_vs_expected(observed: float, expected: float) -> float | None:
    """How far ``observed`` lies from ``expected``, in percent; ``None`` if expected is 0."""
    if expected <= 0:
        return None
    return (observed - expected) / expected * 100.0


def alert_url(event: AlertEvent, base_url: str) -> str:
    """The service page showing this alert's series (``base_url`` is a setting)."""
    query = urlencode(
        {"citizenship": event.citizenship, "region": event.region, "component": event.component}
    )
    return f"{base_url.rstrip('/')}/?{query}#alert-{event.id}"


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _month_name(month: str) -> str:
    return dt.datetime.strptime(month, "%Y-%m").strftime("%B %Y")


def _where(event: AlertEvent) -> str:
    region = _REGIONS.get(event.region, event.region)
    component = _COMPONENTS.get(event.component, event.component)
    return f"{region}, {component}"


def _who(event: AlertEvent) -> str:
    if event.citizenship.upper() == "ALL":
        return "All citizenships"
    return f"{event.citizenship_name} ({event.citizenship})"


def _change(event: AlertEvent) -> str:
    pct = percent_vs_expected(event.observed, event.expected)
    return "no expected level" if pct is None else f"{pct:+,.0f}%"


def _headline(event: AlertEvent) -> str:
    what = "Surge" if event.kind == "surge" else "Drop"
    level = f" ({event.severity})" if event.kind == "surge" else ""
    if event.transition == "opened":
        return f"{what}{level}"
    if event.transition == "escalated":
        return f"{what} escalated to {event.severity}"
    return f"{what} resolved"


def render_subject(event: AlertEvent) -> str:
    """One line naming the citizenship, where, the month and how far from normal."""
    region = _REGIONS.get(event.region, event.region)
    component = event.component.upper() if event.component != "all" else "USBP+OFO"
    return (
        f"[Bordercast] {_headline(event)}: {event.citizenship_name} at {region} ({component}), "
        f"{_month_name(event.month)}: {_count(event.observed)} vs {_count(event.expected)} "
        f"expected ({_change(event)})"
    )


def render_body(event: AlertEvent, base_url: str) -> str:
    """The plain-text e-mail body: the numbers, what they mean, and the link.

    An alert a transit indicator opened has one more line, ``Opened by:``,
    with its reason; the others have none.
    """
    pct = percent_vs_expected(event.observed, event.expected)
    direction = "above" if event.observed >= event.expected else "below"
    diff = abs(event.observed - event.expected)
    if pct is None:
        versus = f"{_count(diff)} {direction} an expected level of 0"
    else:
        ratio = event.observed / event.expected
        versus = (
            f"{_count(diff)} {direction} expected ({pct:+,.0f}%, {ratio:.1f}x the expected level)"
        )
    if event.observed > event.upper:
        bound = f"{_count(event.observed - event.upper)} above the upper bound"
    elif event.observed < event.lower:
        bound = f"{_count(event.lower - event.observed)} below the lower bound"
    else:
        bound = "inside the forecast interval"
    what = "surge" if event.kind == "surge" else "drop"
    intro = {
        "opened": f"Bordercast opened a {what} alert"
        + (f" at severity {event.severity}." if event.kind == "surge" else "."),
        "escalated": f"Bordercast escalated a {what} alert to severity {event.severity}.",
        "resolved": f"The {what} alert is resolved: the series has fallen back toward its level.",
    }[event.transition]
    lines = [
        intro,
        "",
        f"Citizenship:  {_who(event)}",
        f"Where:        {_where(event)}",
        f"Month:        {_month_name(event.month)} ({event.month})",
        f"Encounters:   {_count(event.observed)}",
        f"Expected:     {_count(event.expected)} "
        f"(interval {_count(event.lower)} to {_count(event.upper)})",
        f"Difference:   {versus}",
        f"Interval:     {bound}",
        *([f"Opened by:    {event.reason}"] if event.reason else []),
        f"Alert:        {event.id} ({event.status}, {event.kind}, {event.severity})",
        "",
        f"See it on Bordercast: {alert_url(event, base_url)}",
        "",
        "You receive this because of a Bordercast subscription; one alert per surge,",
        "with a message when it opens, escalates and resolves.",
    ]
    return "\n".join(lines) + "\n"


def render_payload(event: AlertEvent, base_url: str, created_at: dt.datetime) -> str:
    """The webhook body as compact JSON text; its UTF-8 bytes are what is signed.

    Shape (Standard Webhooks style)::

        {"id": "evt_...", "type": "alert.opened", "created_at": "...Z",
         "data": {<every AlertEvent field>, "event_id", "percent_vs_expected", "url"}}

    ``data.reason`` is always there: the indicator and its change for an alert
    a transit indicator opened, ``null`` for one the U.S. counts opened.
    """
    data = asdict(event)
    data["alert_id"] = data.pop("id")
    data["percent_vs_expected"] = percent_vs_expected(event.observed, event.expected)
    data["url"] = alert_url(event, base_url)
    stamp = created_at.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    payload = {
        "id": event.event_id,
        "type": f"alert.{event.transition}",
        "created_at": stamp,
        "data": data,
    }
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


@dataclass(frozen=True)
class Notification:
    """One queued message to one subscriber, as the delivery stages pass it along.

    ``body`` is the e-mail text or the webhook JSON exactly as queued;
    ``attempts`` counts the attempts made before this one. ``secret`` is the
    subscription's current secret (webhooks only), read when the notification is
    claimed so a rotated secret applies to retries.
    """

    id: int
    event_id: str
    subscription_id: int
    alert_id: str
    transition: str
    channel: str
    target: str
    subject: str | None
    body: str
    attempts: int
    secret: str | None = None

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return (
            f"Notification(id={self.id}, event_id={self.event_id!r}, channel={self.channel!r}, "
            f"target={self.target!r}, transition={self.transition!r}, attempts={self.attempts})"
        )


@dataclass(frozen=True)
class SendResult:
    """What a channel got back from its peer when sending did not raise.

    ``status_code`` is the HTTP status (``None`` for e-mail, which either is
    accepted or raises); ``retry_after`` is the peer's ``Retry-After`` in seconds.
    """

    status_code: int | None = None
    retry_after: float | None = None
