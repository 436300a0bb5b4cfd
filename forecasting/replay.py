"""Replay a surge detector over history and score it against a written-down ground truth.

The questions a desk officer asks of a detector are: did it warn of the
surges that happened, how early, were its alerts worth reading, and how much
of the time was it crying wolf. :func:`evaluate` answers each with one figure
over a period of history:

surges caught
    The share of ground-truth surge onsets (:func:`surge_onsets`) for which
    the detector is on in at least one month from ``lead`` (6) months before
    the onset to ``lag`` (1) month after it.
median months early
    Over the surges caught, the median of onset month minus the first month
    of that window the detector is on (so at most ``lead``; -1 means one month
    late).
alerts that were real
    The share of alerts (a detector turning on: an episode opening, for a
    baseline the first month of a run of "on" months) for which the next
    three months average at least ``real_ratio`` (2) times the mean of the
    twelve months before the alert month. The alert month itself is not in
    either mean: a one-month spike that falls back is not real, a surge that
    keeps rising or stays up is. Alerts whose next three months are not yet
    in the data are left out of the share (counted as "unjudged").
months on
    The share of observed series-months in the period during which the
    detector is on (for Bordercast, a surge episode is open).

Everything the detector sees is causal (each month judged on the counts up
to it), so one pass over the history equals a month-by-month replay;
``bench/detection.py`` checks that and times the month-by-month replay. Only
the ground truth and the "real" test look ahead, as they must.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from forecasting.surges import _SURGE, SurgeSettings, _run_episodes, _watch, _wide

__all__ = [
    "BASELINES",
    "DetectionReport",
    "Detector",
    "bordercast_detector",
    "evaluate",
    "one_step_upper",
    "surge_onsets",
]

#: A detector maps the wide counts (month x series, NaN where unobserved) to a
#: boolean "on" matrix of the same shape and the months its alerts start.
Detector = Callable[[pd.DataFrame], tuple[pd.DataFrame, pd.DataFrame]]


def _to_wide(frame: pd.DataFrame) -> pd.DataFrame:
    wide = frame.pivot(index="ds", columns="unique_id", values="y")
    months = pd.date_range(wide.index.min(), wide.index.max(), freq="MS", name="ds")
    return wide.reindex(months)


def surge_onsets(
    frame: pd.DataFrame,
    start: pd.Timestamp | str,
    end: pd.Timestamp | str,
    ratio: float = 2.0,
    minimum: float = 100.0,
    quiet: int = 12,
) -> pd.DataFrame:
    """The ground truth: every surge onset of every series between ``start`` and ``end``.

    A series is *surging* in month *t* when its trailing twelve-month mean
    (months *t-11* .. *t*) is at least ``ratio`` times the same mean a year
    earlier (*t-23* .. *t-12*) and at least ``minimum`` a month: the
    year-over-year doubling of the 12-month level that the reporting on
    these series quotes, on a series big enough to matter (1,200 a year by
    default). An *onset* is a surging month preceded by ``quiet`` months that
    were not surging, so a series that surges, calms down for a year and
    surges again has two onsets (recurring surges count), while one long
    surge has one. Onsets need 24 months of history before them.

    This is hindsight: the trailing mean doubles some months into a gradual
    surge, which is why a good detector can warn months before the onset.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, onset, level_before`` (12-month mean a year before),
        ``level_at`` (12-month mean at the onset), ``peak`` (highest month
        in the 12 months from the onset), sorted by ``unique_id, onset``.
    """
    wide = _to_wide(frame)
    t12 = wide.rolling(12, min_periods=12).mean()
    before = t12.shift(12)
    surging = (t12 >= ratio * before) & (t12 >= minimum) & before.notna()
    recent = surging.shift(1, fill_value=False).astype(float)
    recent = recent.rolling(quiet, min_periods=1).max().fillna(0).astype(bool)
    onset = surging & ~recent
    peak = wide[::-1].rolling(12, min_periods=1).max()[::-1]
    onset = onset.loc[pd.Timestamp(start) : pd.Timestamp(end)]
    stacked = onset.stack()
    stacked = stacked[stacked]
    idx = stacked.index
    out = pd.DataFrame(
        {
            "unique_id": idx.get_level_values(1).astype(str),
            "onset": idx.get_level_values(0),
        }
    )
    for name, values in (("level_before", before), ("level_at", t12), ("peak", peak)):
        out[name] = values.stack(future_stack=True).reindex(idx).to_numpy()
    return out.sort_values(["unique_id", "onset"]).reset_index(drop=True)


def one_step_upper(frame: pd.DataFrame, level: float = 0.8, window: int = 24) -> pd.DataFrame:
    """Upper bound of a one-step random-walk forecast, with an empirical interval.

    A stand-in for the models' one-step intervals (carry the last value
    forward; interval from the ``window`` most recent one-step errors on the
    log1p scale), used to replay the forecast-interval baseline and to grade
    severities when no stored forecasts exist. Causal: the bound for month
    *t* uses counts up to *t-1*.

    Returns
    -------
    pandas.DataFrame
        ``unique_id, ds, upper`` in the shape :func:`forecasting.surges.detect`
        takes as ``forecast_upper``.
    """
    wide = _to_wide(frame)
    logs = np.log1p(wide)
    steps = logs.diff()
    q = steps.rolling(window, min_periods=window).quantile(0.5 + level / 2)
    upper = np.expm1(logs + q).shift(1)
    long = upper.stack().rename("upper").reset_index()
    return long[["unique_id", "ds", "upper"]]


# --------------------------------------------------------------------------- detectors


def _starts(on: pd.DataFrame) -> pd.DataFrame:
    return on & ~on.shift(1, fill_value=False).astype(bool)


def _trailing(wide: pd.DataFrame, months: int = 12) -> pd.DataFrame:
    return wide.shift(1).rolling(months, min_periods=months).mean()


def _recent_high(wide: pd.DataFrame, months: int = 12) -> pd.DataFrame:
    return wide.shift(1).rolling(months - 1, min_periods=1).max()


def forecast_bound_detector(frame: pd.DataFrame, minimum: float = 100.0) -> Detector:
    """Baseline: the count is above the one-step forecast's 80% upper bound and >= minimum."""
    upper = _to_wide(one_step_upper(frame).rename(columns={"upper": "y"}))

    def run(wide: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        u = upper.reindex(index=wide.index, columns=wide.columns)
        on = (wide > u) & (wide >= minimum)
        return on, _starts(on)

    return run


def recent_high_detector(minimum: float = 100.0, ratio: float | None = None) -> Detector:
    """Baseline: the highest count of the past 12 months, >= minimum (and >= ratio x level)."""

    def run(wide: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        on = (wide >= _recent_high(wide)) & (wide >= minimum)
        if ratio is not None:
            on &= wide >= ratio * _trailing(wide)
        return on, _starts(on)

    return run


def threshold_detector(minimum: float = 150.0) -> Detector:
    """Baseline (a trap): any count of at least ``minimum``, whatever the history."""

    def run(wide: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        on = wide >= minimum
        return on, _starts(on)

    return run


def bordercast_detector(
    frame: pd.DataFrame,
    settings: SurgeSettings | None = None,
    forecast_upper: pd.DataFrame | None = None,
    indicators: pd.DataFrame | None = None,
    lags: Mapping[str, int] | None = None,
) -> Detector:
    """Bordercast's detector: on while a surge episode is open; alerts are episode openings.

    With ``settings.use_indicators``, ``indicators`` (and ``lags``) feed the
    transit watches as in :func:`forecasting.surges.episodes`.
    """
    settings = settings or SurgeSettings()
    w = _wide(frame, settings, None, forecast_upper)
    transitions, on_kind = _run_episodes(w, settings, _watch(w, settings, indicators, lags))
    on_all = pd.DataFrame(on_kind == _SURGE, index=w.months, columns=w.ids)
    opens = np.zeros_like(on_kind, dtype=bool)
    for t, i, action, kind, _grade in transitions:
        if action == "open" and kind == _SURGE:
            opens[t, i] = True
    starts_all = pd.DataFrame(opens, index=w.months, columns=w.ids)

    def run(wide: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        return (
            on_all.reindex(index=wide.index, columns=wide.columns, fill_value=False),
            starts_all.reindex(index=wide.index, columns=wide.columns, fill_value=False),
        )

    return run


#: The baselines of issue 10, by the name the report prints.
BASELINES: dict[str, Callable[[pd.DataFrame], Detector]] = {
    "above the one-step forecast's 80% upper bound, >= 100": forecast_bound_detector,
    "highest of the past 12 months, >= 100": lambda frame: recent_high_detector(),
    "highest of the past 12, >= 100, >= 2x trailing 12-month mean": (
        lambda frame: recent_high_detector(ratio=2.0)
    ),
    "a count of at least 150, whatever the history (a trap)": lambda frame: threshold_detector(),
}


# --------------------------------------------------------------------------- scoring


@dataclass
class DetectionReport:
    """The four figures of issue 10 for one detector over one period, with their detail.

    ``surges`` has one row per ground-truth onset (``caught``,
    ``first_alert``, ``months_early``); ``alerts`` one row per alert
    (``real`` is ``None`` when its next three months are past the data).
    """

    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    surges_caught_pct: float
    median_months_early: float
    alerts_real_pct: float
    months_on_pct: float
    n_surges: int
    n_caught: int
    n_alerts: int
    n_alerts_judged: int
    n_alerts_real: int
    alert_months_real_pct: float
    alerts_rising_pct: float
    surges: pd.DataFrame = field(repr=False)
    alerts: pd.DataFrame = field(repr=False)

    def figures(self) -> dict[str, object]:
        """The summary as plain values (JSON-ready)."""
        return {
            "detector": self.name,
            "start": f"{self.start:%Y-%m}",
            "end": f"{self.end:%Y-%m}",
            "surges": self.n_surges,
            "surges_caught": self.n_caught,
            "surges_caught_pct": round(self.surges_caught_pct, 1),
            "median_months_early": self.median_months_early,
            "alerts": self.n_alerts,
            "alerts_judged": self.n_alerts_judged,
            "alerts_real": self.n_alerts_real,
            "alerts_real_pct": round(self.alerts_real_pct, 1),
            "alert_months_real_pct": round(self.alert_months_real_pct, 1),
            "alerts_rising_pct": round(self.alerts_rising_pct, 1),
            "months_on_pct": round(self.months_on_pct, 2),
        }


def _pct(num: float, den: float) -> float:
    return float(100.0 * num / den) if den else float("nan")


def evaluate(
    frame: pd.DataFrame,
    settings: SurgeSettings | None = None,
    start: pd.Timestamp | str = "2012-01",
    end: pd.Timestamp | str = "2024-12",
    *,
    detector: Detector | None = None,
    name: str = "bordercast",
    forecast_upper: pd.DataFrame | None = None,
    lead: int = 6,
    lag: int = 1,
    real_ratio: float = 2.0,
    onsets: pd.DataFrame | None = None,
) -> DetectionReport:
    """Score a detector over ``start`` .. ``end`` (months, inclusive) of ``frame``.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``unique_id, ds, y``: the full history (the detector needs the years
        before ``start`` to build its levels; the "real" test needs three
        months after each alert).
    settings : SurgeSettings, optional
        Bordercast's thresholds, when ``detector`` is not given.
    detector : Detector, optional
        Any other detector (see :data:`BASELINES`).
    forecast_upper : pandas.DataFrame, optional
        Passed to Bordercast's detector (severities only; it does not change
        what is on).
    lead, lag : int
        The catch window: from ``lead`` months before an onset to ``lag``
        after.
    real_ratio : float
        An alert is real when its next three months average at least this
        times the twelve months before it.
    onsets : pandas.DataFrame, optional
        Precomputed :func:`surge_onsets` (to score many settings quickly).

    Returns
    -------
    DetectionReport
    """
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    wide = _to_wide(frame)
    if detector is None:
        detector = bordercast_detector(frame, settings, forecast_upper)
    on, starts = detector(wide)
    on = on.fillna(False).astype(bool)
    starts = starts.fillna(False).astype(bool)
    if onsets is None:
        onsets = surge_onsets(frame, start_ts, end_ts)
    months = wide.index
    period = (months >= start_ts) & (months <= end_ts)

    # Surges caught and how early.
    on_np = on.to_numpy()
    col = {uid: j for j, uid in enumerate(wide.columns)}
    rows = []
    for r in onsets.itertuples(index=False):
        t = months.get_loc(r.onset)
        lo, hi = max(t - lead, 0), min(t + lag, len(months) - 1)
        hits = np.nonzero(on_np[lo : hi + 1, col[r.unique_id]])[0]
        first = months[lo + hits[0]] if len(hits) else pd.NaT
        early = t - (lo + hits[0]) if len(hits) else np.nan
        rows.append(
            (
                r.unique_id,
                r.onset,
                r.level_before,
                r.level_at,
                r.peak,
                bool(len(hits)),
                first,
                early,
            )
        )
    surges = pd.DataFrame(
        rows,
        columns=[
            "unique_id",
            "onset",
            "level_before",
            "level_at",
            "peak",
            "caught",
            "first_alert",
            "months_early",
        ],
    )

    # Alerts and whether they were real.
    y = wide.to_numpy()
    back = wide.shift(1).rolling(12, min_periods=12).mean().to_numpy()
    fwd = wide[::-1].rolling(3, min_periods=3).mean()[::-1].shift(-1).to_numpy()
    with np.errstate(invalid="ignore"):
        real = fwd >= real_ratio * np.maximum(back, 1.0)
        rising = real & (fwd >= y)
    judged = ~np.isnan(fwd)
    st = starts.to_numpy() & period[:, None]
    r_i, c_i = np.nonzero(st)
    alerts = pd.DataFrame(
        {
            "unique_id": wide.columns.to_numpy()[c_i],
            "ds": months[r_i],
            "observed": y[r_i, c_i],
            "level_before": back[r_i, c_i],
            "next3_mean": fwd[r_i, c_i],
            "real": np.where(judged[r_i, c_i], real[r_i, c_i], None),
        }
    ).sort_values(["unique_id", "ds"], ignore_index=True)
    j = judged[r_i, c_i]
    n_judged = int(j.sum())
    n_real = int(real[r_i, c_i][j].sum())
    n_rising = int(rising[r_i, c_i][j].sum())
    on_period = on_np & period[:, None]
    month_j = on_period & judged
    observed = ~np.isnan(y) & period[:, None]

    caught = surges["caught"]
    return DetectionReport(
        name=name,
        start=start_ts,
        end=end_ts,
        surges_caught_pct=_pct(caught.sum(), len(surges)),
        median_months_early=(
            float(surges.loc[caught, "months_early"].median()) if caught.any() else float("nan")
        ),
        alerts_real_pct=_pct(n_real, n_judged),
        months_on_pct=_pct((on_period & observed).sum(), observed.sum()),
        n_surges=len(surges),
        n_caught=int(caught.sum()),
        n_alerts=len(alerts),
        n_alerts_judged=n_judged,
        n_alerts_real=n_real,
        alert_months_real_pct=_pct(real[month_j].sum(), month_j.sum()),
        alerts_rising_pct=_pct(n_rising, n_judged),
        surges=surges,
        alerts=alerts,
    )
