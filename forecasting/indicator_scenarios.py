"""Scenario forecasts on a transit indicator path: "what if Darién crossings fall by 90%?".

The served forecasts do not read the transit indicators (a backtest showed no
gain overall), but :class:`~forecasting.leading.IndicatorModel` does, with
each indicator's measured lead and publication lag. A scenario here asks
that model one question: by how much would its forecast move if an
indicator followed another path from some month on? The answer is a log1p
shift per forecast month, applied to the served forecast the way
:func:`~forecasting.forecasts.scenario_forecast` applies Prophet's policy
effect, so the baseline stays exactly what the service serves and the
scenario differs from it by the indicator path alone.

How the shift is measured:

* the indicator model is fitted once on the data as it is: the series'
  history to the origin ``t`` and the indicator months public at ``t``
  (month ``M`` once ``M + lag <= t``); the lead, the correlation and the
  regressions it learns are those of the served data, never of the path;
* its one-month regression is stepped forward month by month
  (:class:`PathModel`): at each origin ``t + j`` the features are computed
  as :class:`~forecasting.leading.IndicatorModel` computes them, over the
  encounters predicted so far and the indicator months that would be public
  at ``t + j``, so a hypothetical month enters when it would have been
  published and reaches the encounters through the measured lead;
* it is stepped twice: with every indicator carried forward from its last
  published month (no change), and with the edited paths; the shift is the
  difference. The per-horizon regressions of the indicator model are not
  used: they see the features at the origin only, where no future month of
  an indicator can be.

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
    indicator_frame,
    indicator_id,
    parse_month,
    publication_lags,
    relation,
    source_of,
)
from forecasting.leading import (
    SOURCES,
    IndicatorModel,
    citizenship_indicators,
    history_grid,
    indicator_columns,
    known_at,
    stack_columns,
)
from forecasting.names import resolve
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


class PathModel(IndicatorModel):
    """The indicator model, stepped one month at a time over given indicator paths.

    Fitting is :class:`~forecasting.leading.IndicatorModel`'s, unchanged
    (:meth:`~forecasting.models.LogModel.delta` too); :meth:`path_log` adds
    the stepping. Its features are those of ``IndicatorModel._features``
    with the indicators, leads and lags frozen at the fit (``used_``), so a
    hypothetical path can move the features but not what was measured.
    """

    name = "indicator-path"

    def columns(
        self, z: np.ndarray, months: pd.DatetimeIndex, paths: Mapping[str, pd.Series]
    ) -> np.ndarray:
        """Features of each month of ``months`` (rows), as at its last month.

        ``paths`` maps each used indicator's id to its monthly counts (indexed
        by month start); a month is read only once it is public at the last
        month of ``months``. The same features as ``IndicatorModel._features`` (both call
        :func:`~forecasting.leading.indicator_columns`) over other paths.
        """
        origin = months[-1]
        grid, zg, pad = history_grid(z, months, self.max_lead)
        cols: list[np.ndarray] = []
        for uid in sorted(self.used_):
            lead, lag = int(self.used_[uid]["lead_months"]), int(self.used_[uid]["lag_months"])
            series = paths[uid]
            public = series.index.to_period("M") + lag <= origin.to_period("M")
            li = np.log1p(series[public].reindex(grid).to_numpy(dtype=float))
            cols.extend(indicator_columns(li, zg, lead, lag))
        return stack_columns(cols, len(months), pad)

    def path_log(self, paths: Mapping[str, pd.Series], h: int) -> np.ndarray:
        """Log1p forecasts of months 1..h, stepping the one-month regression over ``paths``.

        Each step adds the one-month regression's change at the current
        origin to the last value (floored at zero counts); the next origin
        sees that value as observed. Without a one-month regression (no
        indicator used, too few pairs) every step is zero: the random walk.
        """
        self._check_fitted()
        assert self.z_ is not None and self.ds_ is not None
        beta = self.coef_[0] if self.coef_ else None
        z = list(self.z_)
        months = self.ds_
        out = np.zeros(h)
        for j in range(h):
            step = 0.0
            if beta is not None:
                step = float(self.columns(np.asarray(z), months, paths)[-1] @ beta)
            z.append(max(z[-1] + step, 0.0))
            out[j] = z[-1]
            months = months.append(pd.DatetimeIndex([months[-1] + pd.offsets.MonthBegin(1)]))
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
    """The log1p shift per month that the edited indicator paths make to the indicator model.

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
        ``correlation``, ``used`` (whether the model reads it), a ``note``,
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
    model = PathModel(known, lags=all_lags).fit(history)
    base = {uid: carried(s, end) for uid, s in series.items()}
    z_base = model.path_log(base, horizon)
    paths = {
        indicator_id(e.source, citizenship): edited(
            series[indicator_id(e.source, citizenship)], e, end
        )
        for e in edits
    }
    total = model.path_log({**base, **paths}, horizon) - z_base
    enc = pd.Series(model.z_, index=model.ds_)
    entries = []
    for edit in edits:
        uid = indicator_id(edit.source, citizenship)
        alone = (
            model.path_log({**base, uid: paths[uid]}, horizon) - z_base if len(edits) > 1 else total
        )
        used = uid in model.used_
        rel = (
            model.used_[uid]
            if used
            else relation(series[uid], enc, max_lead=model.max_lead, as_of=origin)
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
                "lead_months": rel["lead_months"],
                "correlation": rel["correlation"],
                "used": used and model.active,
                "note": _note(model, edit, uid, rel, series[uid]),
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


def _note(
    model: PathModel, edit: IndicatorEdit, uid: str, rel: Mapping[str, Any], series: pd.Series
) -> str:
    """Why an edit moves the forecast little or not at all, when it is knowable."""
    if uid not in model.used_:
        if rel["lead_months"] is None:
            return (
                "not used by the indicator model: too few months beside the encounters "
                "to measure a lead; the path has no effect"
            )
        return (
            f"not used by the indicator model: its level correlation with the encounters "
            f"({rel['correlation']} at lead {rel['lead_months']}) is below {model.min_corr}; "
            "the path has no effect"
        )
    if not model.active:
        return (
            f"the indicator model has fewer than {model.min_pairs} months to fit on; "
            "the path has no effect"
        )
    if edit.change_pct is not None and float(series.iloc[-1]) == 0.0:
        return (
            f"the last published count ({series.index.max():%Y-%m}) is 0, so a relative "
            "change leaves the path at 0; give values instead"
        )
    return ""


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
