"""The figures reporting quotes, from one series' history: year totals and trailing means.

Plain pandas, no FastAPI, so it can move into ``forecasting/`` unchanged if the
CLI wants it too. Fiscal years are the U.S. government's (October to
September, named for the year they end in). A year with fewer than 12 months
in the store is still totalled, and listed in ``partial_years`` so that a
reader never mistakes a two-month FY2025 for a collapse.

A trailing mean needs all 12 of its months; where one is missing it is
``None``, never a mean over fewer months (the store keeps missing months
absent, never zero).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd


def fiscal_year(ds: pd.Series) -> pd.Series:
    """FY of each month: October 2022 belongs to FY2023."""
    return ds.dt.year + (ds.dt.month >= 10).astype(int)


def _totals(y: pd.Series, year: pd.Series) -> tuple[dict[str, int], list[str]]:
    grouped = y.groupby(year)
    totals = {str(k): round(float(v)) for k, v in grouped.sum().items()}
    partial = [str(k) for k, n in grouped.count().items() if n < 12]
    return totals, partial


def _window_mean(series: pd.Series, end: pd.Timestamp) -> float | None:
    """Mean of the 12 months ending at ``end`` (inclusive), or None if any is missing."""
    months = pd.date_range(end=end, periods=12, freq="MS")
    window = series.reindex(months)
    if window.isna().any():
        return None
    return float(window.mean())


def _pct(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old == 0:
        return None
    value = (new / old - 1.0) * 100.0
    return round(value, 1) if math.isfinite(value) else None


def series_stats(history: pd.DataFrame) -> dict[str, Any]:
    """Year totals, trailing 12-month means and changes of one series.

    Parameters
    ----------
    history
        ``ds, y`` as :meth:`forecasting.store.Store.history` returns it, cut
        at the as-of month already: the last row is "now".

    Returns
    -------
    dict
        ``fiscal_years`` and ``calendar_years`` (year -> total), ``partial_years``,
        ``trailing_12m_mean`` (the 12 months to ``last_month``),
        ``previous_12m_mean``, ``trailing_12m_change_pct`` (percent change of
        the one against the other), ``last_month``, ``last_count`` and
        ``last_month_yoy_change_pct`` (against the same month a year before).
    """
    frame = history.sort_values("ds")
    ds, y = frame["ds"], frame["y"]
    fiscal, fiscal_partial = _totals(y, fiscal_year(ds))
    calendar, calendar_partial = _totals(y, ds.dt.year)
    by_month = pd.Series(y.to_numpy(), index=pd.DatetimeIndex(ds))
    last = ds.iloc[-1]
    trailing = _window_mean(by_month, last)
    previous = _window_mean(by_month, last - pd.DateOffset(months=12))
    year_ago = by_month.get(last - pd.DateOffset(months=12))
    last_count = float(y.iloc[-1])
    return {
        "fiscal_years": fiscal,
        "calendar_years": calendar,
        "partial_years": {"fiscal": fiscal_partial, "calendar": calendar_partial},
        "trailing_12m_mean": None if trailing is None else round(trailing, 2),
        "previous_12m_mean": None if previous is None else round(previous, 2),
        "trailing_12m_change_pct": _pct(trailing, previous),
        "last_month": last.strftime("%Y-%m"),
        "last_count": round(last_count),
        "last_month_yoy_change_pct": _pct(
            last_count, None if year_ago is None else float(year_ago)
        ),
    }
