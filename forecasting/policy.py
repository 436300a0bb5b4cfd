"""The policy calendar: events that shift encounter counts, and their regressors.

Events live in ``data/policy_events.yaml``. Each has an ``id``, the ``date`` it
took effect, the date it was ``announced``, a ``kind`` (``step``: a lasting
change; ``pulse``: a one-month surge or dip), the citizenships and regions it
applies to (ISO2 codes and region names, or ``all``) and a ``source``.

An as-of forecast may only use events announced by its origin
(:func:`known_as_of`); an event announced later cannot shape an earlier
forecast, even if it took effect before the data ends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from forecasting.errors import ConfigError

KINDS = ("step", "pulse")
REGIONS = ("southwest", "northern", "other")
ALL = "all"
_FIELDS = ("id", "date", "announced", "kind", "citizenships", "regions", "source")


@dataclass(frozen=True)
class PolicyEvent:
    """One entry of the calendar; ``citizenships`` / ``regions`` are ``("all",)`` for all."""

    id: str
    date: pd.Timestamp
    announced: pd.Timestamp
    kind: str
    citizenships: tuple[str, ...]
    regions: tuple[str, ...]
    source: str

    def applies_to(self, unique_id: str) -> bool:
        """Whether the event touches series ``unique_id`` (``"CN:southwest:usbp"``).

        Sums over citizenships (``ALL:...``) are touched by every event, and
        sums over regions (``...:all:...``) by every regional one.
        """
        citizenship, region = _parts(unique_id)
        cits = self.citizenships
        cit_ok = ALL in cits or citizenship == "ALL" or citizenship in cits
        reg_ok = ALL in self.regions or region == ALL or region in self.regions
        return cit_ok and reg_ok


def _parts(unique_id: str) -> tuple[str, str]:
    parts = unique_id.split(":")
    return parts[0], parts[1] if len(parts) > 1 else ALL


def load_events(path: str | Path) -> list[PolicyEvent]:
    """Read and validate the calendar.

    Raises
    ------
    ConfigError
        If the file is missing or not YAML, or an entry is bad; the message
        names the entry (its ``id``, or its position when the id is missing)
        and the field.
    """
    path = Path(path)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the policy calendar ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("events"), list):
        raise ConfigError(f"{path}: expected a mapping with a list under 'events'")
    events, seen = [], set()
    for i, raw in enumerate(doc["events"], 1):
        event = parse_event(raw, where=f"{path}: event #{i}")
        if event.id in seen:
            raise ConfigError(f"{path}: event {event.id!r}: duplicate id")
        seen.add(event.id)
        events.append(event)
    return events


def parse_event(raw: object, where: str = "event") -> PolicyEvent:
    """One validated event from its mapping; errors name ``where`` and the id."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    name = f"{where} ({raw['id']!r})" if isinstance(raw.get("id"), str) else where
    missing = [f for f in _FIELDS if raw.get(f) in (None, "")]
    if missing:
        raise ConfigError(f"{name}: missing field(s) {', '.join(missing)}")
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{name}: unknown field(s) {', '.join(unknown)}")
    when, announced = _date(raw["date"], name, "date"), _date(raw["announced"], name, "announced")
    if announced > when + pd.Timedelta(days=31):
        raise ConfigError(f"{name}: announced {announced.date()} is after date {when.date()}")
    if raw["kind"] not in KINDS:
        raise ConfigError(f"{name}: kind {raw['kind']!r} not allowed; allowed: step, pulse")
    cits = _codes(raw["citizenships"], name, "citizenships")
    bad = [c for c in cits if c != ALL and not (c.isalpha() and c.isupper() and len(c) == 2)]
    if bad:
        raise ConfigError(f"{name}: citizenships {bad} are not ISO 3166-1 alpha-2 codes or 'all'")
    regions = _codes(raw["regions"], name, "regions")
    bad = [r for r in regions if r != ALL and r not in REGIONS]
    if bad:
        raise ConfigError(f"{name}: regions {bad} not allowed; allowed: {', '.join(REGIONS)}, all")
    return PolicyEvent(
        str(raw["id"]), when, announced, raw["kind"], cits, regions, str(raw["source"])
    )


def _date(value: object, name: str, field: str) -> pd.Timestamp:
    if isinstance(value, date):
        return pd.Timestamp(value)
    try:
        return pd.Timestamp(str(value))
    except ValueError:
        raise ConfigError(f"{name}: {field} {value!r} is not a date (YYYY-MM-DD)") from None


def _codes(value: object, name: str, field: str) -> tuple[str, ...]:
    if value == ALL:
        return (ALL,)
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{name}: {field} must be 'all' or a non-empty list of codes")
    return tuple(value)


def known_as_of(events: list[PolicyEvent], as_of: pd.Timestamp | None) -> list[PolicyEvent]:
    """The events announced by the end of month ``as_of`` (all events when None)."""
    if as_of is None:
        return list(events)
    end = pd.Timestamp(as_of) + pd.offsets.MonthEnd(0)
    return [e for e in events if e.announced <= end]


def regressors(
    events: list[PolicyEvent], unique_id: str, ds: pd.Series | pd.DatetimeIndex
) -> pd.DataFrame:
    """Monthly regressors of the events that apply to ``unique_id``, one column per event id.

    A step is the share of the month in effect (0 before, a fraction in the
    month it starts, 1 after), so an event on the 21st counts a third in its
    first month. A pulse is 1 in the month of its date, 0 elsewhere.
    """
    months = pd.DatetimeIndex(ds)
    out = {}
    for event in events:
        if not event.applies_to(unique_id):
            continue
        start = event.date.to_period("M").to_timestamp()
        if event.kind == "pulse":
            out[event.id] = (months == start).astype(float)
            continue
        days = months.days_in_month.to_numpy()
        in_effect = (months + pd.offsets.MonthEnd(0) - event.date).days.to_numpy() + 1
        out[event.id] = np.clip(in_effect / days, 0.0, 1.0)
    return pd.DataFrame(out, index=range(len(months)))
