"""Scenario forecasts on a transit indicator path: "what if Darién crossings fall by 90%?".

A scenario asks :class:`~forecasting.relay.Relay` one question: by how much
would its forecast move if an indicator followed another path from some
month on? The answer is a log1p shift per forecast month, applied to the
served forecast the way :func:`~forecasting.forecasts.scenario_forecast`
applies Prophet's policy effect, so the baseline stays exactly what the
service serves and the scenario differs from it by the indicator path alone.

Why the relay and not :class:`~forecasting.leading.IndicatorModel` (the
per-series regression, which asked this question before): on
``bench/indicators.py`` (southwest USBP, origins 2021-01 to 2024-10,
AvgRelMAE against the random walk) the relay scores 0.600 for China at h1,
where the indicator model alone scores 0.848 and the blend with it 0.870
(0.9681, 0.9934 and 0.9704 over every nationality). Those figures are
in-sample: the relay's share and leads were picked on that bench.

How the shift is measured (:class:`PathRelay`):

* the relay is fitted once on the data as it is: the series' history to the
  origin ``t`` and the indicator months public at ``t`` (month ``M`` once
  ``M + lag <= t``). Which indicators qualify, their lead, lag and level
  correlation are frozen there: a path moves the change the relay reads,
  never what was measured;
* for each forecast month ``t + j + 1`` (``j = 0 .. horizon - 1``) the relay
  is read as at the origin ``t + j``: each qualifying indicator's log1p
  change from its month aligned at the fit (``t - lead``) to its newest
  month public at ``t + j`` (``t + j - lag``), so a hypothetical month
  enters once it would have been published; the forecast is the last
  value plus :data:`~forecasting.relay.ELASTICITY` times the mean change
  (floored at 0 counts). At ``j = 0`` that is the relay's own change;
  later, each newly public month adds its change to it, and a change is
  passed on once: Ecuador's entries lead by two months, so stepping the
  relay's two-month window forward one month at a time would pass each
  month's change on twice;
* it is read twice: over every indicator carried forward from its last
  published month (no change after it: the base is the relay's own
  forecast at every horizon) and over the edited paths; the shift is the
  difference. An indicator the relay does not read (not one of
  :data:`~forecasting.relay.LEADS`, or one that did not qualify at ``t``)
  has no effect, and its entry says why.

An edit (:class:`IndicatorEdit`) names a source of :data:`~forecasting.leading.SOURCES`
and either a relative change from a month on (``change_pct``, applied to the
carried-forward level; ``from`` defaults to the month after the last one
published) or explicit monthly counts (months not given carry the previous
value forward). Edits reach only months after the last published one: a
scenario is about the indicator's future, not a rewrite of its record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError, UnknownSeries
from forecasting.indicators import (
    correlation_at,
    indicator_frame,
    indicator_id,
    known_at,
    parse_month,
    publication_lags,
    source_of,
)
from forecasting.leading import SOURCES, citizenship_indicators
from forecasting.names import resolve
from forecasting.relay import Relay
from forecasting.store import Store, series_id
from forecasting.training import contiguous

#: Fields an edit may have (``from`` is a keyword in Python: ``start`` here).
EDIT_FIELDS = ("source", "change_pct", "from", "values")


@dataclass(frozen=True)
class IndicatorEdit:
    """One indicator path: a relative change from a month on, or explicit monthly counts.

    Parameters
    ----------
    source : str
        One of :data:`~forecasting.leading.SOURCES`.
    change_pct : float, optional
        Percent change of the carried-forward level (``-90``: a tenth of it),
        -100 or more; exclusive with ``values``.
    start : Timestamp, optional
        First month of the change (``from`` in requests); ``None`` means the
        month after the last published one. With ``change_pct`` only.
    values : mapping of Timestamp to float, optional
        Counts (>= 0) for given months; months between and after them carry
        the previous value forward.
    where : str
        How errors name the edit (``indicators[0]``).
    """

    source: str
    change_pct: float | None = None
    start: pd.Timestamp | None = None
    values: Mapping[pd.Timestamp, float] | None = None
    where: str = "indicator"


def parse_edit(raw: Mapping[str, Any], where: str = "indicator") -> IndicatorEdit:
    """One validated edit from its mapping (``source``, ``change_pct`` or ``values``, ``from``).

    Raises
    ------
    ConfigError
        Naming ``where`` and the field: an unknown field or source, both or
        neither of ``change_pct`` and ``values``, a change below -100%, a
        month that is not ``YYYY-MM``, a count below zero, ``from`` with
        ``values``.
    """
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(raw).__name__}")
    unknown = sorted(set(raw) - set(EDIT_FIELDS))
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(EDIT_FIELDS)}"
        )
    source = raw.get("source")
    if source not in SOURCES:
        raise ConfigError(
            f"{where}.source: unknown indicator source {source!r}; known: {', '.join(SOURCES)}"
        )
    change, values, start = raw.get("change_pct"), raw.get("values"), raw.get("from")
    if (change is None) == (values is None):
        raise ConfigError(f"{where}: give exactly one of change_pct and values")
    if change is not None:
        if isinstance(change, bool) or not isinstance(change, int | float):
            raise ConfigError(f"{where}.change_pct must be a number, got {change!r}")
        if not math.isfinite(change) or change < -100:
            raise ConfigError(
                f"{where}.change_pct must be -100 or more (a count cannot fall below zero), "
                f"got {change}"
            )
        month = None if start is None else _month(start, f"{where}.from")
        return IndicatorEdit(str(source), change_pct=float(change), start=month, where=where)
    if start is not None:
        raise ConfigError(f"{where}.from applies to change_pct only; values give their own months")
    if not isinstance(values, Mapping) or not values:
        raise ConfigError(f"{where}.values must map months (YYYY-MM) to counts, at least one")
    counts: dict[pd.Timestamp, float] = {}
    for key, count in values.items():
        month = _month(key, f"{where}.values")
        if isinstance(count, bool) or not isinstance(count, int | float):
            raise ConfigError(f"{where}.values[{key!r}] must be a count, got {count!r}")
        if not math.isfinite(count) or count < 0:
            raise ConfigError(f"{where}.values[{key!r}] must be a count of 0 or more, got {count}")
        counts[month] = float(count)
    return IndicatorEdit(str(source), values=dict(sorted(counts.items())), where=where)


def parse_edits(raw: Sequence[Mapping[str, Any]], name: str = "indicators") -> list[IndicatorEdit]:
    """Every edit of a request, each named ``indicators[i]``; one edit per source."""
    edits = [parse_edit(r, f"{name}[{i}]") for i, r in enumerate(raw)]
    seen: set[str] = set()
    for edit in edits:
        if edit.source in seen:
            raise ConfigError(f"{edit.where}.source: {edit.source} is edited twice")
        seen.add(edit.source)
    return edits


def _month(value: Any, name: str) -> pd.Timestamp:
    try:
        return parse_month(value, name)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


class PathRelay(Relay):
    """The relay fitted on the data as it is, read month by month over given indicator paths.

    Fitting is :class:`~forecasting.relay.Relay`'s, unchanged (so is
    :meth:`~forecasting.relay.Relay.delta`); :meth:`path_log` reads the
    qualifying indicators (``news_``, frozen at the fit) over other paths.
    """

    name = "relay-path"

    def path_log(self, paths: Mapping[str, pd.Series], h: int) -> np.ndarray:
        """Log1p forecasts of months 1..h after the origin, as the relay reads ``paths``.

        ``paths`` maps each qualifying indicator's id to its monthly counts
        (indexed by month start) through month ``h - 1`` after the origin at
        least. Month ``j + 1`` is the last observed value plus
        :meth:`~forecasting.relay.Relay.shift` of each indicator's change
        from its month ``from`` to its newest month public ``j`` months after
        the origin (``to`` plus ``j``), floored at zero counts (module
        docstring). Over the published months carried forward this is the
        relay's own forecast at every horizon; with no indicator qualified,
        the last value.
        """
        self._check_fitted()
        assert self.z_ is not None
        logs = {uid: np.log1p(paths[uid].astype(float)) for uid in self.news_}
        out = np.zeros(h)
        for j in range(h):
            changes = {
                uid: float(
                    logs[uid][pd.Timestamp(n["to"]) + pd.DateOffset(months=j)]
                    - logs[uid][pd.Timestamp(n["from"])]
                )
                for uid, n in self.news_.items()
            }
            out[j] = max(self.z_[-1] + self.shift(changes), 0.0)
        return out


# -- paths ------------------------------------------------------------------------------


def carried(series: pd.Series, end: pd.Timestamp) -> pd.Series:
    """The published months, then the last published count carried forward through ``end``."""
    last = series.index.max()
    future = pd.date_range(last + pd.offsets.MonthBegin(1), end, freq="MS")
    return pd.concat([series, pd.Series(float(series.iloc[-1]), index=future)])


def edited(series: pd.Series, edit: IndicatorEdit, end: pd.Timestamp) -> pd.Series:
    """The carried-forward path with ``edit`` applied to months after the last published."""
    out = carried(series, end).copy()
    last = series.index.max()
    if edit.change_pct is not None:
        start = edit.start if edit.start is not None else last + pd.offsets.MonthBegin(1)
        out[out.index >= start] *= 1 + edit.change_pct / 100
        return out
    value = float(series.iloc[-1])
    for month in out.index[out.index > last]:
        value = float((edit.values or {}).get(month, value))
        out[month] = value
    return out


def _check_months(edit: IndicatorEdit, last: pd.Timestamp, end: pd.Timestamp, uid: str) -> None:
    """Edited months must follow the last published month and fall within the forecast."""
    months = [edit.start] if edit.start is not None else list(edit.values or {})
    field = "from" if edit.values is None else "values"
    for month in months:
        if month is None:
            continue
        if month <= last:
            raise ConfigError(
                f"{edit.where}.{field}: {month:%Y-%m} is not after {uid}'s last published "
                f"month {last:%Y-%m}; a scenario edits the months to come, from "
                f"{last + pd.offsets.MonthBegin(1):%Y-%m} on"
            )
        if month > end:
            raise ConfigError(
                f"{edit.where}.{field}: {month:%Y-%m} is after the forecast's last month "
                f"{end:%Y-%m}"
            )


# -- the effect -------------------------------------------------------------------------


def available(indicators: pd.DataFrame, code: str, edits: Sequence[IndicatorEdit]) -> None:
    """Refuse an edit of a source the citizenship has no series of.

    Raises
    ------
    UnknownSeries
        Naming the citizenship, the source and the sources it does have.
    """
    ids = citizenship_indicators(indicators, code)["unique_id"]
    have = sorted({u.split(":", 1)[0] for u in ids})
    for edit in edits:
        if edit.source not in have:
            who = resolve(code)
            raise UnknownSeries(
                indicator_id(edit.source, code),
                f"{edit.where}.source: {who.name} ({who.code}) has no {edit.source} series; "
                f"its indicators: {', '.join(have) or 'none'}",
            )


def _effects(delta: np.ndarray, months: pd.DatetimeIndex) -> list[dict[str, Any]]:
    return [
        {
            "month": f"{m:%Y-%m}",
            "log_change": round(float(d), 9),
            "change_pct": round(100 * math.expm1(float(d)), 1),
        }
        for m, d in zip(months, delta, strict=True)
    ]


def indicator_effect(
    history: pd.DataFrame,
    indicators: pd.DataFrame,
    citizenship: str,
    edits: Sequence[IndicatorEdit],
    horizon: int,
    lags: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """The log1p shift per month that the edited indicator paths make to the relay's forecast.

    Parameters
    ----------
    history
        One series' contiguous history (``ds, y``); its last month is the
        origin ``t``, and the shift covers months ``t + 1 .. t + horizon``.
    indicators
        Long indicator frame (``unique_id, ds, y``) holding the citizenship's
        series; months not public at ``t`` are dropped here.
    citizenship
        The ISO code of the series' citizenship.
    edits
        From :func:`parse_edits`; at least one.
    horizon
        Months of shift (1 or more).
    lags
        Publication lags by source, overriding the settings.

    Returns
    -------
    dict
        ``as_of`` (``t``), ``effect`` (per month: ``month``, ``log_change``,
        ``change_pct``: every path at once, what the scenario applies) and
        ``indicators``: per edit, its id, ``change_pct``, ``from``,
        ``values``, ``last_published``, ``lag_months``, ``lead_months``,
        ``correlation``, ``used`` (whether the relay reads it), a ``note``,
        ``path`` (per month after the last published: ``carried``,
        ``scenario``) and ``effect`` (the edit alone).

    Raises
    ------
    UnknownSeries
        For a source the citizenship has no series of, or none published by ``t``.
    ConfigError
        For an edited month not after the last published one, or after ``t + horizon``.
    """
    available(indicators, citizenship, edits)
    origin = pd.Timestamp(history["ds"].iloc[-1])
    end = origin + pd.DateOffset(months=horizon)
    months = pd.date_range(origin + pd.offsets.MonthBegin(1), periods=horizon, freq="MS")
    all_lags = {**publication_lags(), **(lags or {})}
    known = known_at(citizenship_indicators(indicators, citizenship), origin, all_lags)
    series = {
        str(uid): pd.Series(part["y"].to_numpy(dtype=float), index=pd.DatetimeIndex(part["ds"]))
        for uid, part in known.groupby("unique_id", sort=True)
    }
    for edit in edits:
        uid = indicator_id(edit.source, citizenship)
        if uid not in series:
            who = resolve(citizenship)
            raise UnknownSeries(
                uid,
                f"{edit.where}.source: no {edit.source} month of {who.name} ({who.code}) "
                f"is published by {origin:%Y-%m}",
            )
        _check_months(edit, series[uid].index.max(), end, uid)
    relay = PathRelay(known, lags=all_lags).fit(history)
    base = {uid: carried(s, end) for uid, s in series.items()}
    z_base = relay.path_log(base, horizon)
    paths = {
        indicator_id(e.source, citizenship): edited(
            series[indicator_id(e.source, citizenship)], e, end
        )
        for e in edits
    }
    total = relay.path_log({**base, **paths}, horizon) - z_base
    entries = []
    for edit in edits:
        uid = indicator_id(edit.source, citizenship)
        alone = (
            relay.path_log({**base, uid: paths[uid]}, horizon) - z_base if len(edits) > 1 else total
        )
        last = series[uid].index.max()
        future = paths[uid].index > last
        entries.append(
            {
                "id": uid,
                "source": edit.source,
                "change_pct": edit.change_pct,
                "from": (
                    f"{(edit.start or last + pd.offsets.MonthBegin(1)):%Y-%m}"
                    if edit.change_pct is not None
                    else None
                ),
                "values": (
                    {f"{m:%Y-%m}": v for m, v in edit.values.items()}
                    if edit.values is not None
                    else None
                ),
                "last_published": f"{last:%Y-%m}",
                "lag_months": all_lags[source_of(edit.source)],
                **_reading(relay, edit, uid, series[uid]),
                "path": [
                    {"month": f"{m:%Y-%m}", "carried": round(c, 1), "scenario": round(s, 1)}
                    for m, c, s in zip(
                        paths[uid].index[future],
                        base[uid][future].to_numpy(),
                        paths[uid][future].to_numpy(),
                        strict=True,
                    )
                ],
                "effect": _effects(alone, months),
            }
        )
    return {"as_of": f"{origin:%Y-%m}", "effect": _effects(total, months), "indicators": entries}


def _reading(relay: PathRelay, edit: IndicatorEdit, uid: str, series: pd.Series) -> dict[str, Any]:
    """What the relay makes of one edited indicator: its lead, correlation, use and a note.

    For an indicator the relay reads, its figures of the fit; for another,
    the route's lead (None for a source not in :data:`~forecasting.relay.LEADS`)
    and the log-level correlation at that lead on the months public at the
    origin, as the relay measures it (None where too few months pair up).
    The note says why the path moves the forecast little or not at all.
    """
    news = relay.news_.get(uid)
    if news is not None:
        note = ""
        if edit.change_pct is not None and float(series.iloc[-1]) == 0.0:
            note = (
                f"the last published count ({series.index.max():%Y-%m}) is 0, so a relative "
                "change leaves the path at 0; give values instead"
            )
        return {
            "lead_months": news["lead_months"],
            "correlation": news["level_correlation"],
            "used": True,
            "note": note,
        }
    lead = relay.route_leads.get(edit.source)
    corr = None
    if lead is not None:
        assert relay.z_ is not None
        found = correlation_at(np.log1p(series), pd.Series(relay.z_, index=relay.ds_), lead)
        corr = None if found is None else round(found, 4)
    reads = ", ".join(f"{name} at lead {k}" for name, k in relay.route_leads.items())
    why = relay.skipped_.get(uid, f"not one of its indicators ({reads})")
    return {
        "lead_months": lead,
        "correlation": corr,
        "used": False,
        "note": f"not read by the relay: {why}; the path has no effect",
    }


def indicator_scenario(
    store: Store,
    citizenship: str,
    region: str,
    component: str,
    edits: Sequence[IndicatorEdit] | Sequence[Mapping[str, Any]],
    horizon: int = 12,
    as_of: str | pd.Timestamp | None = None,
    lags: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """:func:`indicator_effect` on a series of the store, with the indicators public at ``as_of``.

    ``as_of`` (``YYYY-MM``) is the origin: the served forecast's data
    cut-off, so the shift's months are the forecast's; the store's last
    month of the series when ``None``. Edits may be given as mappings
    (parsed with :func:`parse_edits`).

    Raises
    ------
    UnknownCitizenship, UnknownSeries, ConfigError
        As :func:`indicator_effect`, and for a series the store does not hold.
    """
    code = resolve(citizenship).code
    items: Sequence[IndicatorEdit | Mapping[str, Any]] = edits
    parsed = [
        e if isinstance(e, IndicatorEdit) else parse_edit(e, f"indicators[{i}]")
        for i, e in enumerate(items)
    ]
    if not parsed:
        raise ConfigError("indicators: give at least one indicator path")
    cutoff = parse_month(as_of) if as_of is not None else None
    uid = series_id(code, region, component)
    frame = store.series_frame([uid], as_of=cutoff)
    if frame.empty:
        raise UnknownSeries(uid)
    history = contiguous(frame)[["ds", "y"]].reset_index(drop=True)
    indicators = indicator_frame(store, code, lags=lags)
    return indicator_effect(history, indicators, code, parsed, horizon, lags)


def check_sources(store: Store, citizenship: str, edits: Sequence[IndicatorEdit]) -> None:
    """:func:`available` against the store: refuse early, before any model is loaded."""
    code = resolve(citizenship).code
    available(indicator_frame(store, code), code, edits)
