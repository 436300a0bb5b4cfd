"""Transit indicators: their store, and how far each one leads the encounter series.

An indicator series is ``(indicator, citizenship) -> count`` by month, read
from the transit files by :mod:`forecasting.readers.transit`: Darién
crossings (``panama-darien``), Mexico's irregular migrants
(``mexico-irregular``) and regular entries into a country of the region
(``entries-ECU`` ...). They sit beside the encounter counts, never in them:
this module writes ``indicator_values`` and ``indicator_revisions`` only, and
reads ``observations`` through :class:`~forecasting.store.Store`.

Ingest follows the encounter store's rules: a transit file is a batch in
``batches`` (its sha256, its source, the months it covers), a file already
ingested changes nothing, and where a newer file (a later last month) covers
a key its value stands and the replaced one is kept in
``indicator_revisions``.

Indicators lead: most people crossing the Darién reach the U.S. border within
weeks, so a month's Darién count foretells next month's encounters.
:func:`relation` measures that lead, :func:`indicators_for` puts each series
of a citizenship beside its measured lead, as the API and the CLI serve it.

A count is of use only once published. :data:`PUBLICATION_LAG` holds, per
source, how many months after CBP's month ``M`` the source's month ``M`` is
public; every ``as_of`` read drops what was not yet known.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, and_, bindparam, insert, select, update

from forecasting.names import resolve
from forecasting.readers.transit import MONTH, VALUE_KEY, YEAR, TransitReading
from forecasting.schema import batches, indicator_revisions, indicator_values
from forecasting.store import IngestSummary, Store, classify, records, revision_rows, series_id

#: Months after CBP publishes month M that a source's month M is public.
#: Working assumption of the data README (the files do not record it):
#: Darién and regular entries with CBP's month, Mexico's bulletin a month
#: later. Override per call with ``lags=``.
PUBLICATION_LAG: dict[str, int] = {
    "panama-darien": 0,
    "mexico-irregular": 1,
    "regular-entries": 0,
}


def publication_lags() -> dict[str, int]:
    """The lags in force: the defaults above, overridden by ``BORDERCAST_INDICATOR_LAGS``."""
    from forecasting.settings import get_settings

    return {**PUBLICATION_LAG, **get_settings().indicator_lags}


#: The encounter series an indicator is compared with: southwest, the sum
#: of USBP and OFO where the store has it, else USBP alone.
ENCOUNTER_REGION = "southwest"
ENCOUNTER_COMPONENTS = ("all", "usbp")

#: Fewest overlapping months for a correlation to be reported at all.
MIN_OVERLAP = 12


def no_relation() -> dict[str, Any]:
    """What :func:`relation` says when nothing could be measured."""
    return {"lead_months": None, "correlation": None, "start": None, "end": None, "n": 0}


def source_of(indicator: str) -> str:
    """The batch source an indicator comes from (``entries-ECU`` -> ``regular-entries``)."""
    return "regular-entries" if indicator.startswith("entries-") else indicator


def indicator_id(indicator: str, citizenship: str) -> str:
    """The ``unique_id`` of an indicator series in long frames: ``panama-darien:CN``."""
    return f"{indicator}:{citizenship}"


def indicator_name(unique_id: str) -> str:
    """The indicator of a ``unique_id``: ``panama-darien:CN`` -> ``panama-darien``."""
    return unique_id.split(":", 1)[0]


def known_at(
    frame: pd.DataFrame, origin: pd.Timestamp, lags: Mapping[str, int] | None = None
) -> pd.DataFrame:
    """Indicator rows public at ``origin``: month ``M`` once ``M + lag <= origin``."""
    all_lags = {**publication_lags(), **(lags or {})}
    lag = frame["unique_id"].map(lambda u: all_lags[source_of(indicator_name(u))])
    known = frame["ds"].dt.to_period("M") + lag.to_numpy(dtype=np.int64)
    return frame[(known <= pd.Timestamp(origin).to_period("M")).to_numpy()]


# -- ingest ---------------------------------------------------------------------


def ingest(store: Store, reading: TransitReading, sha256: str, location: str) -> IngestSummary:
    """Apply one validated transit file atomically; the newer file's value stands.

    The summary counts indicator values (monthly counts and annual totals),
    in the same fields an encounter ingest fills.
    """
    values = reading.values
    summary = IngestSummary(
        file=location,
        source=reading.source,
        sha256=sha256,
        rows=reading.rows,
        first_month=reading.first_month.strftime("%Y-%m"),
        last_month=reading.last_month.strftime("%Y-%m"),
        series=reading.series,
    )
    return store.apply_batch(
        reading,
        sha256,
        location,
        summary,
        len(values),
        lambda conn, batch_id: _apply(conn, batch_id, reading, summary),
    )


def _apply(
    conn: Connection, batch_id: int, reading: TransitReading, summary: IngestSummary
) -> None:
    """Merge a file's values into ``indicator_values``, keeping every replaced value."""
    values = reading.values
    v = indicator_values.c
    existing = pd.read_sql(
        select(
            v.indicator,
            v.citizenship,
            v.period,
            v.month,
            v.count.label("old_count"),
            v.batch_id.label("old_batch_id"),
            batches.c.last_month.label("old_vintage"),
        )
        .join(batches, batches.c.id == v.batch_id)
        .where(v.indicator.in_(sorted(values["indicator"].unique()))),
        conn,
    )
    existing["month"] = pd.to_datetime(existing["month"])
    existing["old_vintage"] = pd.to_datetime(existing["old_vintage"])
    merged = values.merge(existing, on=VALUE_KEY, how="left")
    fresh, revised, superseded, confirmed = classify(merged, reading.last_month, summary)
    columns = [*VALUE_KEY, "geo", "count"]
    if len(fresh):
        conn.execute(insert(indicator_values), records(fresh[columns], batch_id=batch_id))
    changed = pd.concat([revised, confirmed])
    if len(changed):
        conn.execute(
            update(indicator_values)
            .where(and_(*(getattr(v, k) == bindparam(f"k_{k}") for k in VALUE_KEY)))
            .values(count=bindparam("k_count"), batch_id=batch_id),
            [
                {f"k_{k}": value for k, value in row.items()}
                for row in records(changed[[*VALUE_KEY, "count"]])
            ],
        )
    _log_revisions(conn, batch_id, revised, superseded)


def _log_revisions(
    conn: Connection, batch_id: int, revised: pd.DataFrame, superseded: pd.DataFrame
) -> None:
    """Keep the value each file replaced, and what an older file would have said."""
    rows = revision_rows(batch_id, revised, superseded, VALUE_KEY)
    if rows:
        conn.execute(insert(indicator_revisions), rows)


# -- reads ----------------------------------------------------------------------


def _engine(store_or_engine: Store | Engine) -> Engine:
    return store_or_engine.engine if isinstance(store_or_engine, Store) else store_or_engine


def parse_month(value: str | dt.date | pd.Timestamp, name: str = "as_of") -> pd.Timestamp:
    """The first day of a month given as ``YYYY-MM`` (or a date in it).

    Raises
    ------
    ValueError
        Naming the parameter, when the value is not a month.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            stamp = pd.Timestamp(dt.datetime.strptime(text[:7], "%Y-%m"))
        except ValueError:
            stamp = None
        if stamp is None or len(text) not in (7, 10):
            raise ValueError(f"{name} must be a month such as 2024-07, got {value!r}")
        return stamp
    return pd.Timestamp(value).to_period("M").to_timestamp()


def _values(
    engine: Engine,
    citizenship: str | None,
    period: str,
    as_of: pd.Timestamp | None,
    lags: Mapping[str, int],
) -> pd.DataFrame:
    """Indicator values of one period kind, known at ``as_of``, as ``VALUE_COLUMNS``.

    A monthly count for ``M`` is known once ``M + lag <= as_of``; an annual
    total once its December is.
    """
    v = indicator_values.c
    query = select(v.indicator, v.geo, v.citizenship, v.period, v.month, v.count).where(
        v.period == period
    )
    if citizenship is not None:
        query = query.where(v.citizenship == citizenship)
    if as_of is not None:
        query = query.where(v.month <= as_of.date())
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    frame["month"] = pd.to_datetime(frame["month"])
    if as_of is not None and len(frame):
        lag = frame["indicator"].map(lambda i: lags[source_of(i)])
        span = 11 if period == YEAR else 0
        known = frame["month"].dt.to_period("M") + (lag + span).to_numpy(dtype=np.int64)
        frame = frame[(known <= as_of.to_period("M")).to_numpy()]
    return frame.sort_values(["indicator", "citizenship", "month"]).reset_index(drop=True)


def indicator_frame(
    store_or_engine: Store | Engine,
    citizenship: str | None = None,
    as_of: str | dt.date | pd.Timestamp | None = None,
    lags: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Monthly indicator series in the long shape ``unique_id, ds, y``, sorted.

    Parameters
    ----------
    store_or_engine
        The store, or its engine.
    citizenship
        Any spelling :func:`~forecasting.names.resolve` knows (``CN``,
        ``China``, ``CHN``); all citizenships when ``None``.
    as_of
        Keep only what was public at that month: a source's month ``M`` is
        kept when ``M + lag <= as_of``, the lag from :data:`PUBLICATION_LAG`
        (so at ``2024-07`` Mexico's last month is ``2024-06``).
    lags
        Publication lags overriding :data:`PUBLICATION_LAG`, by source.

    Returns
    -------
    pandas.DataFrame
        ``unique_id`` (``panama-darien:CN``, ``entries-ECU:CN``), ``ds``
        (month start) and ``y`` (float, as in the encounter frames). Annual
        totals are left out; months a source did not report stay absent.

    Raises
    ------
    UnknownCitizenship
        When ``citizenship`` resolves to nothing.
    """
    code = resolve(citizenship).code if citizenship is not None else None
    cutoff = parse_month(as_of) if as_of is not None else None
    frame = _values(
        _engine(store_or_engine), code, MONTH, cutoff, {**publication_lags(), **(lags or {})}
    )
    out = pd.DataFrame(
        {
            "unique_id": frame["indicator"] + ":" + frame["citizenship"],
            "ds": frame["month"],
            "y": frame["count"].astype("float64"),
        }
    )
    return out.sort_values(["unique_id", "ds"]).reset_index(drop=True)


def relation(
    indicator: pd.Series,
    encounters: pd.Series,
    max_lead: int = 6,
    as_of: str | dt.date | pd.Timestamp | None = None,
    min_overlap: int = MIN_OVERLAP,
) -> dict[str, Any]:
    """How many months an indicator leads the encounters, and how closely.

    For each lead ``0..max_lead`` the indicator's month ``m`` is set against
    the encounters of month ``m + lead`` and the Pearson correlation of the
    levels is taken over the months both have; the lead with the highest
    correlation wins (the shorter lead on a tie). Levels, not changes: the
    question is whether the indicator's size tells the encounters' size.

    Parameters
    ----------
    indicator, encounters
        Monthly counts indexed by month (any day in the month); missing
        values are dropped, never read as zero.
    max_lead
        The longest lead tried, in months (non-negative).
    as_of
        Only months up to and including it are used, in both series.
    min_overlap
        A lead whose overlap is shorter than this, or over which either series
        is constant, gives no correlation.

    Returns
    -------
    dict
        ``lead_months``, ``correlation`` (rounded to 4 places), ``start`` and
        ``end`` (``YYYY-MM``: the encounter months compared, inclusive) and
        ``n`` (how many). All ``None`` and ``n = 0`` when no lead qualifies.
    """
    if max_lead < 0:
        raise ValueError(f"max_lead must be 0 or more, got {max_lead}")
    cutoff = parse_month(as_of).to_period("M") if as_of is not None else None
    grid = _month_grid(_by_month(indicator, cutoff), _by_month(encounters, cutoff))
    if grid is None:
        return no_relation()
    first, x, y = grid
    best: tuple[int, float, int, int, int] | None = None
    for lead in range(max_lead + 1):
        found = _corr_at(x, y, lead, min_overlap)
        if found is not None and (best is None or found[0] > best[1]):
            r, both = found
            best = (lead, r, int(both[0]) + lead, int(both[-1]) + lead, len(both))
    if best is None:
        return no_relation()
    lead, r, start, end, n = best
    return {
        "lead_months": lead,
        "correlation": round(r, 4),
        "start": pd.Period(ordinal=first + start, freq="M").strftime("%Y-%m"),
        "end": pd.Period(ordinal=first + end, freq="M").strftime("%Y-%m"),
        "n": n,
    }


def correlation_at(
    indicator: pd.Series, encounters: pd.Series, lead: int, min_overlap: int = MIN_OVERLAP
) -> float | None:
    """The level correlation :func:`relation` takes at one given lead (unrounded).

    None where fewer than ``min_overlap`` months pair up or either side is constant.
    """
    grid = _month_grid(_by_month(indicator, None), _by_month(encounters, None))
    if grid is None:
        return None
    found = _corr_at(grid[1], grid[2], lead, min_overlap)
    return None if found is None else found[0]


def _month_grid(ind: pd.Series, enc: pd.Series) -> tuple[int, np.ndarray, np.ndarray] | None:
    """Both series on one grid of month ordinals (the first one, then each one's values).

    Training measures relations at every backtest origin, so this is numpy, not a
    pandas join per lead.
    """
    if ind.empty or enc.empty:
        return None
    first = int(min(ind.index.asi8.min(), enc.index.asi8.min()))
    size = int(max(ind.index.asi8.max(), enc.index.asi8.max())) - first + 1
    return first, _on_grid(ind, first, size), _on_grid(enc, first, size)


def _corr_at(
    x: np.ndarray, y: np.ndarray, lead: int, min_overlap: int
) -> tuple[float, np.ndarray] | None:
    """Correlation of ``x`` at ``m`` with ``y`` at ``m + lead``, and the positions ``m`` paired."""
    if lead >= len(x):
        return None
    xi, ye = x[: len(x) - lead], y[lead:]
    both = np.flatnonzero(np.isfinite(xi) & np.isfinite(ye))
    if len(both) < min_overlap or np.ptp(xi[both]) == 0 or np.ptp(ye[both]) == 0:
        return None
    return float(np.corrcoef(xi[both], ye[both])[0, 1]), both


def _on_grid(series: pd.Series, first: int, size: int) -> np.ndarray:
    """Values of a month-period series at ordinals ``first .. first + size - 1``; NaN elsewhere."""
    out = np.full(size, np.nan)
    out[series.index.asi8 - first] = series.to_numpy()
    return out


def _by_month(series: pd.Series, cutoff: pd.Period | None) -> pd.Series:
    """A series re-indexed by monthly period, without gaps' NaNs, up to ``cutoff``."""
    out = pd.Series(
        series.to_numpy(dtype="float64"), index=pd.DatetimeIndex(series.index).to_period("M")
    ).dropna()
    if not out.index.is_unique:
        out = out.groupby(level=0).last()
    if not out.index.is_monotonic_increasing:
        out = out.sort_index()
    return out[out.index <= cutoff] if cutoff is not None else out


def indicators_for(
    store: Store,
    citizenship: str,
    as_of: str | dt.date | pd.Timestamp | None = None,
    max_lead: int = 6,
    lags: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Every transit series of a citizenship with its measured lead on the encounters.

    What ``GET /v1/indicators/{citizenship}`` and ``bordercast indicators``
    return. The encounter series is the southwest's, component ``all`` where
    the store has it at ``as_of`` and ``usbp`` otherwise; each relation uses
    only what was public at ``as_of`` (the indicators' publication lags
    included). A lead shorter than an indicator's ``lag_months`` is measured
    but gives no warning in practice: the count is public too late.

    Returns
    -------
    dict
        ``citizenship`` (``code``, ``name``), ``as_of`` (``YYYY-MM`` or
        ``None``), ``encounters`` (``region``, ``component``; ``None`` when
        the store has no such series) and ``indicators``: one entry per
        series, sorted by id, with ``id``, ``source``, ``geo``,
        ``lag_months``, ``history`` (``month``, ``count``), ``annual``
        (``year``, ``count``: the Darién's 2010-2019 totals, empty elsewhere)
        and ``relation`` (see :func:`relation`).

    Raises
    ------
    UnknownCitizenship
        When ``citizenship`` resolves to nothing.
    """
    who = resolve(citizenship)
    cutoff = parse_month(as_of) if as_of is not None else None
    all_lags = {**publication_lags(), **(lags or {})}
    ids = [series_id(who.code, ENCOUNTER_REGION, c) for c in ENCOUNTER_COMPONENTS]
    frame = store.series_frame(ids, as_of=cutoff)
    component = next(
        (
            c
            for c, i in zip(ENCOUNTER_COMPONENTS, ids, strict=True)
            if (frame["unique_id"] == i).any()
        ),
        None,
    )
    encounters = None
    if component is not None:
        part = frame[frame["unique_id"] == series_id(who.code, ENCOUNTER_REGION, component)]
        encounters = pd.Series(part["y"].to_numpy(), index=part["ds"])
    engine = store.engine
    monthly = _values(engine, who.code, MONTH, cutoff, all_lags)
    annual = _values(engine, who.code, YEAR, cutoff, all_lags)
    entries = []
    for indicator, part in monthly.groupby("indicator", sort=True):
        series = pd.Series(part["count"].to_numpy(), index=part["month"])
        totals = annual[annual["indicator"] == indicator]
        entries.append(
            {
                "id": indicator_id(str(indicator), who.code),
                "source": source_of(str(indicator)),
                "geo": str(part["geo"].iloc[0]),
                "lag_months": all_lags[source_of(str(indicator))],
                "history": [
                    {"month": m.strftime("%Y-%m"), "count": int(c)}
                    for m, c in zip(part["month"], part["count"], strict=True)
                ],
                "annual": [
                    {"year": int(m.year), "count": int(c)}
                    for m, c in zip(totals["month"], totals["count"], strict=True)
                ],
                "relation": (
                    relation(series, encounters, max_lead=max_lead, as_of=cutoff)
                    if encounters is not None
                    else no_relation()
                ),
            }
        )
    return {
        "citizenship": {"code": who.code, "name": who.name},
        "as_of": cutoff.strftime("%Y-%m") if cutoff is not None else None,
        "encounters": (
            {"region": ENCOUNTER_REGION, "component": component} if component is not None else None
        ),
        "indicators": entries,
    }
