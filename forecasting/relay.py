"""The relay: a share of an indicator's newest change, passed on to the encounters it leads.

Chinese nationals counted in the Darién in October 2022 are at the U.S.
border in November: China's Darién count doubled from September to October
(136 to 274), and its southwest-border encounters rose by a quarter from
October to November (410 to 520, USBP). :class:`Relay` forecasts
the encounters as their last value moved by :data:`ELASTICITY` times the
indicators' change over the months they lead by and are already public
(the mean over the indicators that qualify), at every horizon. The spans
differ: the Darién's change is over one month, Ecuador's entries' over
two, so the latter already holds what the encounters will show over the
next two months; both are applied alike to every horizon, as a level shift.

What qualifies, as of the origin ``t`` and with only months public then:

* the indicator is one of :data:`LEADS`, whose lead is the route's: from
  the Darién to the border is about a month's journey, and from a flight
  into Ecuador about two. Measured leads do not settle it: the levels of
  two growing series correlate at any lead (China's Darién lead by level
  correlation, :func:`~forecasting.indicators.relation`, read 0, 1 or 3
  between 2022 and 2024), and month-to-month changes correlate too weakly to
  tell (-0.11 to 0.12 at leads 0 to 3 for China's Darién count against
  its CBP southwest encounters, as of every quarter of 2022-2024);
* the lead exceeds the publication lag, so the change is news the
  encounters have not shown yet, and the indicator's month at the origin
  less its lag is public (a source that stopped is not read);
* the log levels at that lead, on the months known at the origin,
  correlate at :data:`MIN_CORR` or more: the indicator tracks this series.

Why a fixed share and not a fitted one: a regression per series has a few
dozen noisy months to learn from, and its estimate swings with them;
``bench/indicators.py`` measured both. 0.3 was picked on that same bench
(0.3 and 0.5 tried), so its figures for the relay are in-sample.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from forecasting.indicators import (
    correlation_at,
    indicator_name,
    known_at,
    publication_lags,
    source_of,
)
from forecasting.intervals import AnyCalibration
from forecasting.models import LogModel

#: Indicators the relay reads, with their lead on the U.S. southwest border in months.
LEADS: dict[str, int] = {"panama-darien": 1, "entries-ECU": 2}

#: Share of the indicators' log change passed on to the encounters.
ELASTICITY = 0.3

#: Least correlation of the log levels at the lead for an indicator to be read.
MIN_CORR = 0.5


class Relay(LogModel):
    """The last value moved by a share of the leading indicators' newest change.

    Parameters
    ----------
    indicators : DataFrame
        ``unique_id`` (``panama-darien:CN``), ``ds``, ``y`` of the series'
        citizenship; rows not public at the history's last month are dropped at fit.
    lags : mapping, optional
        Publication lags by source, overriding ``PUBLICATION_LAG``.

    Attributes
    ----------
    news_ : dict
        Per qualifying indicator id: ``lead_months``, ``lag_months``,
        ``level_correlation``, the months ``from`` and ``to`` and the
        ``log_change`` between them (rounded to 4 places, as :meth:`delta` reads it).
    skipped_ : dict
        Per indicator of the route's with months public at the origin that
        did not qualify: why, in words.
    """

    name = "relay"

    def __init__(
        self,
        indicators: pd.DataFrame,
        lags: Mapping[str, int] | None = None,
        elasticity: float = ELASTICITY,
        leads: Mapping[str, int] | None = None,
        calibration: AnyCalibration | None = None,
    ) -> None:
        super().__init__(calibration)
        self.indicators = indicators
        self.lags = {**publication_lags(), **(lags or {})}
        self.elasticity = elasticity
        self.route_leads = dict(LEADS if leads is None else leads)
        self.news_: dict[str, dict[str, Any]] = {}
        self.skipped_: dict[str, str] = {}

    def _fit(self, history: pd.DataFrame) -> None:
        assert self.z_ is not None and self.ds_ is not None
        origin = self.ds_[-1]
        encounters = pd.Series(self.z_, index=self.ds_)
        known = known_at(self.indicators, origin, self.lags)
        self.news_, self.skipped_ = {}, {}
        for uid, part in known.groupby("unique_id", sort=True):
            name = indicator_name(str(uid))
            if name not in self.route_leads:
                continue
            counts = pd.Series(np.log1p(part["y"].to_numpy(dtype=float)), index=part["ds"])
            news = self._news(counts, encounters, origin, name)
            if isinstance(news, str):
                self.skipped_[str(uid)] = news
            else:
                self.news_[str(uid)] = news

    def _news(
        self, counts: pd.Series, encounters: pd.Series, origin: pd.Timestamp, name: str
    ) -> dict[str, Any] | str:
        """What one indicator shows of the coming months if it qualifies, else why not.

        The reasons are those of the module docstring, worded for a reader
        (:mod:`forecasting.indicator_scenarios` reports them in its notes).
        """
        lag, lead = self.lags[source_of(name)], self.route_leads[name]
        if lead <= lag:
            return f"its lead ({lead}) does not exceed its publication lag ({lag}): no news"
        last, aligned = origin - pd.DateOffset(months=lag), origin - pd.DateOffset(months=lead)
        if last not in counts.index or aligned not in counts.index:
            # a source that stopped, or a gap: nothing to pass on
            return (
                f"its months {aligned:%Y-%m} and {last:%Y-%m} are not both public at "
                f"{origin:%Y-%m} (last published: {counts.index.max():%Y-%m})"
            )
        level_corr = correlation_at(counts, encounters, lead)
        if level_corr is None:
            return f"too few months beside the encounters to correlate at lead {lead}"
        if level_corr < MIN_CORR:
            return (
                f"its log-level correlation with the encounters at lead {lead} "
                f"({level_corr:.4f}) is below {MIN_CORR}"
            )
        return {
            "lead_months": lead,
            "lag_months": lag,
            "level_correlation": round(level_corr, 4),
            "from": aligned.strftime("%Y-%m"),
            "to": last.strftime("%Y-%m"),
            "log_change": round(float(counts[last] - counts[aligned]), 4),
        }

    @property
    def leads(self) -> bool:
        """Whether any indicator qualified (else the relay is the random walk)."""
        return bool(self.news_)

    def shift(self, changes: Mapping[str, float]) -> float:
        """The log1p move of the last value: :attr:`elasticity` times the mean change.

        ``changes`` holds a log1p change per indicator of :attr:`news_` (others
        are not read); with no indicator qualified the move is 0.
        """
        if not self.news_:
            return 0.0
        return float(self.elasticity * np.mean([changes[uid] for uid in self.news_]))

    def delta(self, h: int) -> np.ndarray:
        return np.full(h, self.shift({uid: n["log_change"] for uid, n in self.news_.items()}))
