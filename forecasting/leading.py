"""Leading transit indicators in the forecast: a model that reads them, and when to use it.

:class:`IndicatorModel` predicts the log1p change of a series' encounters
from the transit indicators of its citizenship (Darién crossings, Mexico's
irregular migrants, regular entries into Ecuador), anchored on the last
encounter value like every model of :mod:`forecasting.models`:

* as of the origin ``t`` each indicator keeps only the months public then
  (month ``M`` once ``M + lag <= t``, the lag per source from
  :data:`~forecasting.indicators.PUBLICATION_LAG`); the model cuts again
  itself, so an uncut frame cannot leak;
* its lead ``L`` on the encounters is measured with
  :func:`~forecasting.indicators.relation` on the months up to ``t`` only,
  and an indicator whose level correlation is below ``min_corr`` is left out,
  as is one whose newest public month is more than :data:`MAX_STALE` months
  behind its lag (a source that stopped: the bundled transit files end in
  2025-04);
* per horizon a ridge without intercept (so no signal means the random
  walk's zero change) is fitted on the past pairs ``(features at s,
  z[s+k] - z[s])`` whose target month ``s + k <= t``. Features at ``s``:
  ``new`` (the indicator's change from the month aligned with ``s`` to its
  last public month: the part of the coming encounters it already shows;
  zero when the lead does not exceed the lag) and ``gap`` (the indicator's
  log level minus the aligned encounters', less its trailing 12-month
  mean: encounters below what the indicator implies tend to catch up).

Two candidates carry the indicators into a served forecast
(:class:`Candidates`): the ``blend`` (:class:`Blend`: the mean of the
model without indicators and :class:`IndicatorModel`) and the ``relay``
(:class:`~forecasting.relay.Relay`: the last value moved by a share of a
leading indicator's newest change). :func:`choose` backtests both against
the model ``without`` on past origins, scores only targets already
observed at the origin, and per horizon keeps the best candidate not
beaten by ``without`` (:func:`choice_from_errors`); :class:`Leading` is
that choice as a served :class:`~forecasting.models.LogModel`, with the
choice and every score in :attr:`Leading.metadata`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Mapping
from typing import Any

import numpy as np
import pandas as pd

from forecasting.indicators import indicator_name, known_at, publication_lags, relation, source_of
from forecasting.intervals import AnyCalibration
from forecasting.models import LogModel, RandomWalk
from forecasting.relay import Relay

#: The indicator sources a model may read (regular entries: Ecuador's only).
SOURCES = ("panama-darien", "mexico-irregular", "entries-ECU")

#: Fewest scored origins before the indicator model can be chosen.
MIN_SCORED = 6

#: Months an indicator may run behind its publication lag before it counts as
#: stopped: its missing months would read as "no change" and dilute the forecast.
MAX_STALE = 2

#: The model "without" indicators as of a backtest origin: a factory, so that
#: each past origin gets a model that knows only what was known then.
WithoutAt = Callable[[pd.Timestamp], LogModel]


def random_walk_at(cutoff: pd.Timestamp) -> LogModel:
    """The default "without": the random walk, the same at every origin."""
    return RandomWalk()


def citizenship_indicators(frame: pd.DataFrame, citizenship: str) -> pd.DataFrame:
    """The rows of an ``indicator_frame`` for one citizenship and the sources used here."""
    if frame.empty:  # a store without transit files: nothing to split
        return frame.reset_index(drop=True)
    # split the few thousand distinct ids, not every row: this runs once per series in training
    ids = pd.Series(frame["unique_id"].unique())
    parts = ids.str.split(":", n=1, expand=True)
    wanted = ids[((parts[1] == citizenship) & parts[0].isin(SOURCES)).to_numpy()]
    return frame[frame["unique_id"].isin(wanted).to_numpy()].reset_index(drop=True)


class IndicatorModel(LogModel):
    """The log1p change of encounters from the transit indicators' known months.

    Parameters
    ----------
    indicators : DataFrame
        ``unique_id`` (``panama-darien:CN``), ``ds``, ``y`` of the series'
        citizenship (:func:`~forecasting.indicators.indicator_frame`); rows
        not public at the history's last month are dropped at fit.
    lags : mapping, optional
        Publication lags by source, overriding ``PUBLICATION_LAG``.
    max_h : int
        Horizons with a regression of their own; longer ones reuse the last.
    lam : float
        Ridge penalty relative to the features' mean square (1 halves an
        orthogonal feature's coefficient).
    window : int
        Most recent pairs fitted on.
    max_lead, min_corr, min_pairs : int, float, int
        Leads tried, least level correlation for an indicator to be used,
        fewest pairs for a horizon's regression (else zero change).
    """

    name = "indicator"

    def __init__(
        self,
        indicators: pd.DataFrame,
        lags: Mapping[str, int] | None = None,
        max_h: int = 3,
        lam: float = 1.0,
        window: int = 36,
        max_lead: int = 3,
        min_corr: float = 0.5,
        min_pairs: int = 12,
        calibration: AnyCalibration | None = None,
    ) -> None:
        super().__init__(calibration)
        self.indicators = indicators
        self.lags = {**publication_lags(), **(lags or {})}
        self.max_h, self.lam, self.window = max_h, lam, window
        self.max_lead, self.min_corr, self.min_pairs = max_lead, min_corr, min_pairs
        self.used_: dict[str, dict[str, Any]] = {}
        self.coef_: list[np.ndarray | None] = []
        self.x_now_: np.ndarray | None = None

    # -- features ---------------------------------------------------------------

    def _features(self, z: np.ndarray, months: pd.DatetimeIndex) -> np.ndarray:
        """Features of each history month (rows) for every used indicator (columns)."""
        origin = months[-1]
        known = known_at(self.indicators, origin, self.lags)
        grid, zg, pad = history_grid(z, months, self.max_lead)
        cols: list[np.ndarray] = []
        self.used_ = {}
        enc = pd.Series(z, index=months)
        for uid, part in known.groupby("unique_id", sort=True):
            series = pd.Series(part["y"].to_numpy(), index=part["ds"])
            rel = relation(series, enc, max_lead=self.max_lead, as_of=origin)
            if rel["lead_months"] is None or rel["correlation"] < self.min_corr:
                continue
            lead = int(rel["lead_months"])
            lag = self.lags[source_of(indicator_name(str(uid)))]
            if series.index.max() < origin - pd.DateOffset(months=lag + MAX_STALE):
                continue
            li = np.log1p(series.reindex(grid).to_numpy(dtype=float))
            last = series.index.max().strftime("%Y-%m")
            self.used_[str(uid)] = {**rel, "lag_months": lag, "last_month": last}
            cols.extend(indicator_columns(li, zg, lead, lag))
        return stack_columns(cols, len(months), pad)

    def _fit(self, history: pd.DataFrame) -> None:
        z, months = self.z_, self.ds_
        assert z is not None
        x = self._features(z, months)
        self.x_now_ = x[-1] if len(x) else None
        self.coef_ = []
        for k in range(1, self.max_h + 1):
            rows = np.arange(max(0, len(z) - k - self.window), len(z) - k)
            if x.shape[1] == 0 or len(rows) < self.min_pairs:
                self.coef_.append(None)
                continue
            xs, y = x[rows], z[rows + k] - z[rows]
            scale = float(np.mean(xs**2)) + 1e-9
            pen = self.lam * len(rows) * scale * np.eye(xs.shape[1])
            self.coef_.append(np.linalg.solve(xs.T @ xs + pen, xs.T @ y))

    def delta(self, h: int) -> np.ndarray:
        out = np.zeros(h)
        if self.x_now_ is None:
            return out
        for k in range(1, h + 1):
            beta = self.coef_[min(k, self.max_h) - 1]
            if beta is not None:
                out[k - 1] = float(self.x_now_ @ beta)
        return out

    @property
    def active(self) -> bool:
        """Whether any indicator entered the fit (else the forecast is the random walk)."""
        return any(b is not None for b in self.coef_)

    @property
    def leads(self) -> bool:
        """Whether an indicator in the fit shows months the encounters have not reached yet.

        Only an indicator whose lead exceeds its publication lag carries news
        of the coming months; the others only say where encounters stand
        against them. Over 2021-2024 blending in the indicator model only at
        such origins beat the forecasts without indicators at every horizon,
        where blending it in whenever any indicator entered lost at h1
        (``bench/indicators.py``).
        """
        return self.active and any(u["lead_months"] > u["lag_months"] for u in self.used_.values())


def history_grid(
    z: np.ndarray, months: pd.DatetimeIndex, max_lead: int
) -> tuple[pd.DatetimeIndex, np.ndarray, int]:
    """The monthly grid the features are computed on: ``pad`` months before the history.

    The padding lets a lead and the 12-month trailing gap reach before the
    first encounter month; ``zg`` holds the encounters on that grid (NaN
    before them).
    """
    pad = max_lead + 14
    grid = pd.date_range(months[0] - pd.DateOffset(months=pad), months[-1], freq="MS")
    zg = np.full(len(grid), np.nan)
    zg[pad:] = z
    return grid, zg, pad


def indicator_columns(li: np.ndarray, zg: np.ndarray, lead: int, lag: int) -> list[np.ndarray]:
    """One indicator's features at each grid month: ``new`` (if the lead exceeds the lag), ``gap``.

    ``li`` is the indicator's log1p count on the grid with only public months
    filled; see the module docstring for what each feature means.
    """
    idx = np.arange(len(li))
    public = idx - lag  # last public indicator month at s
    aligned = idx - lead  # indicator month aligned with encounters at s
    m = np.minimum(aligned, public)  # latest month with both indicator and its encounters
    gap = _take(li, m) - _take(zg, m + lead)
    trail = np.vstack([_take(li, m - k) - _take(zg, m - k + lead) for k in range(1, 13)])
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        base = np.nanmean(np.where(np.isfinite(trail), trail, np.nan), axis=0)
    if lead > lag:
        return [_take(li, public) - _take(li, aligned), gap - base]
    return [gap - base]


def stack_columns(cols: list[np.ndarray], rows: int, pad: int) -> np.ndarray:
    """The feature matrix of the history months (the padding cut off), missing values as 0."""
    if not cols:
        return np.zeros((rows, 0))
    x = np.column_stack(cols)[pad:]
    return np.where(np.isfinite(x), x, 0.0)


def _take(a: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``a[idx]`` with NaN where ``idx`` is out of range."""
    out = np.full(len(idx), np.nan)
    ok = (idx >= 0) & (idx < len(a))
    out[ok] = a[idx[ok]]
    return out


class Blend(LogModel):
    """The mean of a base model's change and the indicator model's (the "blend" candidate).

    At origins where no indicator leads (:attr:`IndicatorModel.leads`) it is the base alone.
    """

    name = "blend"

    def __init__(self, base: LogModel, indicator: IndicatorModel, weight: float = 0.5) -> None:
        super().__init__(base.calibration)
        self.base, self.indicator, self.weight = base, indicator, weight

    def _fit(self, history: pd.DataFrame) -> None:
        self.base.fit(history)
        self.indicator.fit(history)

    def delta(self, h: int) -> np.ndarray:
        b = self.base.delta(h)
        if not self.indicator.leads:
            return b
        return (1 - self.weight) * b + self.weight * self.indicator.delta(h)


# -- the per-series choice ------------------------------------------------------


#: The candidates with indicators, in the order preferred while no backtest has
#: scored them: the relay (:mod:`forecasting.relay`), then the blend.
CANDIDATES = ("relay", "blend")


def choice_from_errors(
    errors: pd.DataFrame,
    as_of: pd.Timestamp,
    min_scored: int = MIN_SCORED,
    available: Collection[str] = CANDIDATES,
    h: int = 1,
) -> dict[int, dict[str, Any]]:
    """Per horizon, the candidate to serve: the best one not beaten by ``without``.

    ``errors`` has ``cutoff, ds, h, ae_without`` and, per candidate ``c`` of
    :data:`CANDIDATES` it holds, ``ae_c`` and ``active_c`` (an indicator
    entered ``c`` at that origin, so it differed from ``without``). A
    candidate is scored on its active rows with ``ds <= as_of``: the
    geometric mean of ``ae_c / ae_without`` (errors under one count as one).
    It is out where that is 1 or more over at least ``min_scored`` targets.
    Of the others, one scored on ``min_scored`` targets or more wins by its
    score; one scored on fewer is kept by default (the order of
    :data:`CANDIDATES`), since it differs from ``without`` only where an
    indicator leads: on ``bench/indicators.py`` (2021-2024) that default beat
    requiring a won backtest first. ``available`` are the candidates an
    indicator leads in at ``as_of``; the others would serve ``without``.
    Where ``errors`` has the random walk's ``ae_rw`` too, each one's own score
    against it is given beside: ``blend_rel_mae`` and ``relay_rel_mae`` on
    their active rows, ``without_rel_mae`` on the rows where either was.
    Horizons up to ``h`` that ``errors`` lacks serve ``without``.
    """
    names = [c for c in CANDIDATES if f"ae_{c}" in errors]
    seen = errors[errors["ds"] <= as_of]
    out: dict[int, dict[str, Any]] = {}
    longest = int(errors["h"].max()) if errors["h"].notna().any() else 0
    for k in range(1, max(h, longest) + 1):
        part = seen[seen["h"] == k]
        entry: dict[str, Any] = {}
        ranked = []
        for rank, c in enumerate(names):
            scored = part[part[f"active_{c}"].astype(bool)]
            rel = _rel(scored[f"ae_{c}"], scored["ae_without"])
            entry[f"rel_{c}_vs_without"], entry[f"n_{c}"] = rel, len(scored)
            if "ae_rw" in part:
                entry[f"{c}_rel_mae"] = _rel(scored[f"ae_{c}"], scored["ae_rw"])
            if c not in available:
                continue
            if rel is not None and len(scored) >= min_scored:
                if rel < 1.0:
                    ranked.append((0, rel, c))  # won its backtest: ranked by its score
            else:
                ranked.append((1, float(rank), c))  # untested: kept, in order of preference
        pick = min(ranked)[2] if ranked else "without"
        out[k] = {"pick": pick, "use": pick != "without", **entry}
        if "ae_rw" in part:
            either = part[part[[f"active_{c}" for c in names]].astype(bool).any(axis=1)]
            out[k]["without_rel_mae"] = _rel(either["ae_without"], either["ae_rw"])
    return out


def _rel(ae: pd.Series, ae_base: pd.Series) -> float | None:
    """Geometric mean of ``ae / ae_base`` (errors under one count as one); None if empty."""
    if ae.empty:
        return None
    return float(np.exp(np.log(ae.clip(lower=1.0) / ae_base.clip(lower=1.0)).mean()))


class Candidates:
    """The fitted candidates of one history: ``without``, the blend and the relay."""

    def __init__(
        self,
        history: pd.DataFrame,
        indicators: pd.DataFrame,
        without: LogModel,
        lags: Mapping[str, int] | None = None,
        **kwargs: Any,
    ) -> None:
        self.blend = Blend(without, IndicatorModel(indicators, lags=lags, **kwargs)).fit(history)
        self.without = self.blend.base  # fitted on the same history by the blend
        self.relay = Relay(indicators, lags=lags).fit(history)

    @property
    def active(self) -> dict[str, bool]:
        """Which candidates an indicator enters here (elsewhere they serve ``without``)."""
        return {"blend": self.blend.indicator.leads, "relay": self.relay.leads}

    def model(self, name: str) -> LogModel:
        """A candidate as served: ``without`` where no indicator enters it."""
        if name == "blend":
            return self.blend  # the blend is ``without`` itself where no indicator leads
        if name == "relay" and self.relay.leads:
            return self.relay
        return self.without


def choose(
    history: pd.DataFrame,
    indicators: pd.DataFrame,
    without: WithoutAt = random_walk_at,
    h: int = 3,
    n_origins: int = 24,
    lags: Mapping[str, int] | None = None,
    available: Collection[str] = CANDIDATES,
    **kwargs: Any,
) -> dict[int, dict[str, Any]]:
    """Backtest every candidate against ``without`` on the last ``n_origins`` monthly origins.

    Every past origin sees only its own history, the indicator months
    public then and ``without(origin)``; targets after the history's end are
    not scored. Returns :func:`choice_from_errors` as of the history's last
    month, among the ``available`` candidates (those an indicator leads in then).
    """
    history = history.reset_index(drop=True)
    rows = []
    last = len(history) - 1
    for t in range(max(24, last - n_origins - h + 1), last):
        past = history.iloc[: t + 1]
        cutoff = pd.Timestamp(past["ds"].iloc[-1])
        known = known_at(indicators, cutoff, lags)
        fitted = Candidates(past, known, without(cutoff), lags, **kwargs)
        points = {c: fitted.model(c).point(h) for c in ("without", *CANDIDATES)}
        active = fitted.active
        y_origin = float(history["y"].iloc[t])
        for k in range(1, min(h, last - t) + 1):
            y = float(history["y"].iloc[t + k])
            row = {"cutoff": cutoff, "ds": pd.Timestamp(history["ds"].iloc[t + k]), "h": k}
            row |= {f"ae_{c}": abs(y - p[k - 1]) for c, p in points.items()}
            row |= {f"active_{c}": active[c] for c in CANDIDATES}
            rows.append(row | {"ae_rw": abs(y - y_origin)})
    columns = ["cutoff", "ds", "h", "ae_without", "ae_rw"]
    columns += [f"{p}_{c}" for c in CANDIDATES for p in ("ae", "active")]
    errors = pd.DataFrame(rows, columns=columns)
    as_of = pd.Timestamp(history["ds"].iloc[-1])
    return choice_from_errors(errors, as_of, available=available, h=h)


class Leading(LogModel):
    """The served model with the per-series, per-horizon indicator choice applied.

    Fits :func:`choose` on the history, then every candidate; :meth:`delta`
    serves the one chosen per horizon, and :attr:`metadata` holds the
    choice, the scores and the indicators each candidate used.
    """

    name = "leading"

    def __init__(
        self,
        indicators: pd.DataFrame,
        without: WithoutAt = random_walk_at,
        h: int = 3,
        n_origins: int = 24,
        lags: Mapping[str, int] | None = None,
        calibration: AnyCalibration | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(calibration)
        self.indicators, self.without, self.h = indicators, without, h
        self.n_origins, self.lags, self.kwargs = n_origins, lags, kwargs
        self.metadata: dict[str, Any] = {}

    def _fit(self, history: pd.DataFrame) -> None:
        cutoff = pd.Timestamp(history["ds"].iloc[-1])
        ind = known_at(self.indicators, cutoff, self.lags)
        self.fitted_ = Candidates(history, ind, self.without(cutoff), self.lags, **self.kwargs)
        available = [c for c, on in self.fitted_.active.items() if on]
        choice = choose(
            history, ind, self.without, self.h, self.n_origins, self.lags, available, **self.kwargs
        )
        self.without_ = self.fitted_.without
        self.choice_ = choice
        self.metadata = {
            "choice": {k: c["pick"] for k, c in choice.items()},
            "scores": choice,
            "indicators": self.fitted_.blend.indicator.used_,
            "relay": self.fitted_.relay.news_,
            "as_of": cutoff.strftime("%Y-%m"),
        }

    @property
    def chosen_name(self) -> str:
        """What is served, as the registry's ``kind``: the model without, plus indicators."""
        base = getattr(self.without_, "chosen_name", self.without_.name)
        return f"{base}+indicators"

    def __getstate__(self) -> dict[str, Any]:
        # the factory may hold every origin's global model; a fitted model predicts without it
        return {**self.__dict__, "without": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "fitted_" not in state and "with_" in state:
            # pickled before the relay (0.2.0): the blend or ``without`` per horizon, as then
            fitted = Candidates.__new__(Candidates)
            fitted.blend, fitted.without = state.pop("with_"), state["without_"]
            fitted.relay = Relay(state["indicators"], lags=state["lags"])  # unfitted: never leads
            state["fitted_"] = fitted
            state["choice_"] = {
                k: {**c, "pick": "blend" if c["use"] else "without"}
                for k, c in state["choice_"].items()
            }
        self.__dict__.update(state)

    def delta(self, h: int) -> np.ndarray:
        choice = [self.choice_.get(min(k, self.h), {}) for k in range(1, h + 1)]
        picks = [c.get("pick", "without") for c in choice]
        deltas = {p: self.fitted_.model(p).delta(h) for p in set(picks)}
        return np.array([deltas[p][k] for k, p in enumerate(picks)])
