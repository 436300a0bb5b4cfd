"""Transit watches: a jump in a nationality's Darién or Ecuador count as an early surge warning.

Most people crossing the Darién reach the U.S. border within weeks, and many
who fly into Ecuador continue north, so a jump in a nationality's count on
the route may foretell its southwest-border encounters. :func:`jumps` finds
the months where a transit indicator jumped, and dates each one at the month
its count was public; :func:`forecasting.surges.episodes` (with
``SurgeSettings(use_indicators=True)`` and an indicator frame) opens a
``watch`` on the citizenship's southwest series at that month. The watch is
a surge episode like any other from then on: the U.S. counts escalate it and
resolve it, and a month the indicator still jumps counts as a surge month
(it keeps the episode open). An indicator never opens a watch over an open
drop, nor on a series without a count or without a trailing level that
month.

The rule, per indicator series (``panama-darien:CN``, ``entries-ECU:CN``):
its count of month ``M`` jumps when it is at least ``ratio`` times the mean
of the ``window`` months before ``M`` (each of them reported) and at least
``minimum``. Month ``M`` is public at ``M + lag`` (the source's publication
lag, :func:`forecasting.indicators.publication_lags`), and that is the month
the watch can open: a count not yet public never triggers, and the mean
reads only months before ``M``, so data appended later never changes a past
decision. Entries into Ecuador by Ecuadorians are returns home, not
transit, and are left out (Ecuador's file also reports them only from
2024-01: 0 then 113,505).

Measured, not assumed: ``bench/transit_watch.py`` replays the detector with
and without the rule over 2020-2025 on the southwest series of every
nationality with a Darién or Ecuador count (USBP 2020-01 to 2025-08, USBP +
OFO 2022-04 to 2025-11; 47 surge onsets), with thresholds chosen on every
other citizenship code and checked on the rest. No grid point gained
warning on the tuning half without adding a false episode there; the pick
(6-month mean, x5, >= 50: the ``indicator_*`` defaults) warns earlier on 4
surges, all of small series (India 2021 +5 months, Afghanistan 2022 +3,
Uzbekistan 2021 +2, Mauritania 2023 +1; 11 months in all), and on none of
China 2022, Ecuador 2023, Venezuela 2023 or Colombia 2021, whose U.S.
counts already warned 2 to 6 months ahead; it adds 14 alerts and 2 false
episodes net (13 against 11: Paraguay 2021-11, Venezuela 2022-05 on both
series, Vietnam 2023-08 and Thailand 2024-07 added; Venezuela 2022-08 on
both series and 2023-04 removed). More false episodes, so the rule is
**off by default** (``SurgeSettings.use_indicators = False``); the flag
stays for an analyst to replay with it, and the bench re-measures it as
data arrives.

A watch opened by an indicator and never confirmed by a U.S. surge signal
also ends in a month its series is below the detector's ``minimum`` (see
:func:`forecasting.surges._run_episodes`): without that, a watch on a series
of 20 a month, whose 24-month level is lower still, stayed open for a year
or more and "warned" of any later surge.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from forecasting.indicators import publication_lags, source_of
from forecasting.names import display_name

__all__ = ["DESCRIPTIONS", "SOURCES", "jumps"]

#: The indicators a watch may open on, and how a reason names them.
SOURCES: tuple[str, ...] = ("panama-darien", "entries-ECU")
DESCRIPTIONS: dict[str, str] = {
    "panama-darien": "Darién crossings",
    "entries-ECU": "Entries into Ecuador",
}

#: An indicator left out for one citizenship: a country's own nationals entering it.
HOME: dict[str, str] = {"entries-ECU": "EC"}

COLUMNS = ["citizenship", "ds", "indicator", "month", "value", "mean", "ratio", "reason"]


def jumps(
    indicators: pd.DataFrame,
    window: int = 6,
    ratio: float = 5.0,
    minimum: float = 50.0,
    lags: Mapping[str, int] | None = None,
    sources: tuple[str, ...] = SOURCES,
) -> pd.DataFrame:
    """Every jump of a transit indicator, dated at the month it was public.

    The thresholds' defaults are those of
    :class:`~forecasting.surges.SurgeSettings` (``indicator_window``,
    ``indicator_ratio``, ``indicator_minimum``): the ones the replay chose.

    Parameters
    ----------
    indicators : pandas.DataFrame
        ``unique_id, ds, y`` as :func:`forecasting.indicators.indicator_frame`
        returns (``panama-darien:CN``); other indicators are ignored. It may
        hold months not yet public at some decision month: each jump is dated
        at ``month + lag``, so a caller judging month *t* keeps ``ds <= t``.
    window : int
        Months in the trailing mean (the months before the one tested, each
        of them reported; >= 1).
    ratio : float
        A jump is a count at least this times the trailing mean (> 1). The
        mean is floored at 1, so a count after months of zeros is measured
        against 1.
    minimum : float
        A jump also needs at least this many people in the month (>= 0).
    lags : mapping, optional
        Publication lags by source, over :func:`publication_lags`.
    sources : tuple of str
        The indicators read.

    Returns
    -------
    pandas.DataFrame
        One row per jump, sorted by ``ds, citizenship, indicator``:
        ``citizenship`` (ISO alpha-2), ``ds`` (the month it is public and a
        watch can open), ``indicator``, ``month`` (the indicator's month),
        ``value``, ``mean`` (trailing), ``ratio`` (value / max(mean, 1)) and
        ``reason`` (one sentence naming the indicator, its count and its
        change, for the alert).

    Raises
    ------
    ValueError
        Naming the parameter, for a window below 1, a ratio of 1 or less or a
        negative minimum.
    """
    if window < 1:
        raise ValueError(f"window must be at least 1 month, got {window!r}")
    if not ratio > 1:
        raise ValueError(f"ratio must be greater than 1, got {ratio!r}")
    if not minimum >= 0:
        raise ValueError(f"minimum must be >= 0, got {minimum!r}")
    missing = [c for c in ("unique_id", "ds", "y") if c not in indicators.columns]
    if missing:
        raise ValueError(
            f"indicators lacks column(s) {', '.join(missing)}; expected unique_id, ds, y"
        )
    all_lags = {**publication_lags(), **(lags or {})}
    parts = indicators["unique_id"].str.split(":", n=1, expand=True)
    if parts.empty:
        return pd.DataFrame(columns=COLUMNS)
    keep = parts[0].isin(sources).to_numpy()
    for name, home in HOME.items():
        keep &= ~((parts[0] == name) & (parts[1] == home)).to_numpy()
    frame = indicators[keep]
    if frame.empty:
        return pd.DataFrame(columns=COLUMNS)
    wide = frame.pivot_table(index="ds", columns="unique_id", values="y", aggfunc="last")
    grid = pd.date_range(wide.index.min(), wide.index.max(), freq="MS")
    wide = wide.reindex(grid).astype("float64")
    mean = wide.shift(1).rolling(window, min_periods=window).mean()
    with np.errstate(invalid="ignore"):
        change = wide / np.maximum(mean, 1.0)
        hit = ((change >= ratio) & (wide >= minimum) & mean.notna()).to_numpy()
    r, c = np.nonzero(hit)
    if not len(r):
        return pd.DataFrame(columns=COLUMNS)
    ids = wide.columns.to_numpy(dtype=str)[c]
    split = np.char.partition(ids, ":")
    indicator, code = split[:, 0], split[:, 2]
    lag = np.asarray([all_lags[source_of(i)] for i in indicator], dtype="int64")
    months = grid[r]
    out = pd.DataFrame(
        {
            "citizenship": code,
            "ds": (months.to_period("M") + lag).to_timestamp(),
            "indicator": indicator,
            "month": months,
            "value": wide.to_numpy()[r, c],
            "mean": mean.to_numpy()[r, c],
            "ratio": change.to_numpy()[r, c],
        }
    )
    out["reason"] = [
        reason(j.indicator, j.citizenship, j.month, j.value, j.mean, j.ratio, window)
        for j in out.itertuples(index=False)
    ]
    return out.sort_values(["ds", "citizenship", "indicator"], ignore_index=True)[COLUMNS]


def reason(
    indicator: str,
    citizenship: str,
    month: pd.Timestamp,
    value: float,
    mean: float,
    ratio: float,
    window: int,
) -> str:
    """The sentence an alert carries: ``Darién crossings by nationals of China: 695 in
    2022-12, x3.9 their 6-month mean (176)``."""
    what = DESCRIPTIONS.get(indicator, indicator)
    return (
        f"{what} by nationals of {display_name(citizenship)}: {value:,.0f} in "
        f"{pd.Timestamp(month):%Y-%m}, x{ratio:.1f} their {window}-month mean ({mean:,.0f})"
    )
