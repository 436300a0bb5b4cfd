"""Forecast models behind one small interface, all anchored on the log1p scale.

Every model here is fitted on one series' history (``ds``, ``y``; monthly,
contiguous, counts >= 0) and predicts ``h`` months as a frame with columns
``ds, mean, lo-80, hi-80, lo-95, hi-95`` (counts). Models work on
``z = log1p(y)``: the point forecast is the last observed ``z`` plus a
*change* (:meth:`LogModel.delta`), because on these series anything that
fits a level or a trend curve loses to carrying the last value forward.
``mean`` is ``expm1`` of the log forecast, i.e. a median, which is what MAE
rewards, rounded to the grid the source reports on (:func:`reporting_unit`).

Intervals never come from the models' own variance (far too narrow here):
they come from a :class:`~forecasting.intervals.Calibration` of past
backtest errors, attached by :mod:`forecasting.training` or passed in; without one,
a model falls back to the quantiles of the series' own past h-month changes.

The global model (:class:`GlobalBoosted`, or the linear :class:`GlobalRidge`)
is trained once over every series of a frame as of a cut-off and then serves
each series through :class:`GlobalMember`, which keeps only that series'
predicted changes when saved.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, Self

import numpy as np
import pandas as pd

from forecasting.errors import ConfigError, ModelError, NotFitted, UnknownSeries
from forecasting.intervals import AnyCalibration, Calibration, _check_levels, series_scale
from forecasting.policy import PolicyEvent, known_as_of, regressors

if TYPE_CHECKING:
    from prophet import Prophet

LEVELS = (80, 95)


class Model(Protocol):
    """What backtests, selection and the service need from a model."""

    name: str

    def fit(self, history: pd.DataFrame) -> Self: ...

    def predict(self, h: int, levels: Sequence[int] = LEVELS) -> pd.DataFrame: ...


def check_history(history: pd.DataFrame) -> pd.DataFrame:
    """Validate one series' history: ``ds`` monthly and contiguous, ``y`` finite and >= 0."""
    if not isinstance(history, pd.DataFrame) or not {"ds", "y"} <= set(history.columns):
        raise ModelError("history must be a DataFrame with columns 'ds' and 'y'")
    if history.empty:
        raise ModelError("history is empty")
    y = history["y"].to_numpy(dtype=float)
    if not np.isfinite(y).all() or (y < 0).any():
        raise ModelError("history 'y' must be finite counts >= 0")
    ds = pd.DatetimeIndex(history["ds"])
    index = ds.year.to_numpy() * 12 + ds.month.to_numpy()
    if (ds.day != 1).any() or (np.diff(index) != 1).any() or ds.hour.any():
        raise ModelError("history 'ds' must be contiguous month starts, sorted")
    return history


def reporting_unit(y: np.ndarray) -> int:
    """The grid a source reports its counts on, as the history shows it: 10 or 1.

    OHSS rounds every count to the nearest 10, so the month being forecast
    will be a multiple of 10 too. Rounding is monotone, so the median (and
    every quantile) of the reported count is the rounded median of the true
    count: a forecast rounded to the grid is the one MAE rewards. Interval
    bounds go inward instead (:func:`band_on_grid`).
    Three non-zero months, all multiples of 10, are taken as the sign (exact
    counts would do that one time in a thousand).
    """
    nonzero = np.asarray(y, dtype=float)
    nonzero = nonzero[nonzero > 0]
    return 10 if len(nonzero) >= 3 and not np.any(nonzero % 10) else 1


def on_grid(counts: np.ndarray, unit: int | np.ndarray) -> np.ndarray:
    """Counts rounded to the nearest multiple of ``unit`` (one, or one per count)."""
    return np.round(np.asarray(counts, dtype=float) / unit) * unit


def band_on_grid(
    lower: np.ndarray, upper: np.ndarray, mean: np.ndarray, unit: int
) -> tuple[np.ndarray, np.ndarray]:
    """A band's bounds on the reporting grid: the grid values inside it, never past ``mean``.

    The month being forecast is itself on the grid, so the snapped band
    covers exactly the counts the calibrated band covers (and the forecast,
    where the band is narrower than a step). Rounding each
    bound to the nearest multiple instead adds half a step on either side:
    for OHSS series at 10-99 encounters (steps of 10) the served 80% band
    covered 91.9% instead of 82.6% (the workbook's random-walk backtest,
    2019-2023).
    """
    lo = np.ceil(np.round(np.asarray(lower, dtype=float) / unit, 9)) * unit
    hi = np.floor(np.round(np.asarray(upper, dtype=float) / unit, 9)) * unit
    return np.minimum(lo, mean), np.maximum(hi, mean)


class LogModel:
    """Base: validation, the log1p anchor and intervals; subclasses give :meth:`delta`.

    Parameters
    ----------
    calibration : Calibration or SizedCalibration, optional
        Past-error quantiles for the intervals (per size class, picked by the
        series' last count); without one the series' own past h-month
        changes are used.
    """

    name = "base"
    #: Round forecasts to the history's reporting grid (:func:`reporting_unit`).
    snap = True

    def __init__(self, calibration: AnyCalibration | None = None) -> None:
        self.calibration = calibration
        self.unit_ = 1
        self.z_: np.ndarray | None = None
        self.ds_: pd.DatetimeIndex | None = None
        self.unique_id: str | None = None

    def fit(self, history: pd.DataFrame) -> Self:
        """Learn from ``history`` (``ds, y``); returns self."""
        check_history(history)
        self.z_ = np.log1p(history["y"].to_numpy(dtype=float))
        self.ds_ = pd.DatetimeIndex(history["ds"])
        self.unit_ = reporting_unit(history["y"].to_numpy()) if self.snap else 1
        if "unique_id" in history.columns:
            self.unique_id = str(history["unique_id"].iloc[0])
        self._fit(history)
        return self

    def _fit(self, history: pd.DataFrame) -> None:
        """What a subclass learns beyond the history itself."""

    def delta(self, h: int) -> np.ndarray:
        """Log1p change from the last observed value for horizons 1..h."""
        raise NotImplementedError

    def point_log(self, h: int) -> np.ndarray:
        """Log1p point forecast: the last value plus :meth:`delta`."""
        self._check_fitted()
        assert self.z_ is not None
        return self.z_[-1] + self.delta(h)

    def point(self, h: int) -> np.ndarray:
        """The point forecast in counts, as :meth:`predict` gives it (on the reporting grid)."""
        return self._grid(np.maximum(self.point_log(h), 0.0))

    def predict(self, h: int, levels: Sequence[int] = LEVELS) -> pd.DataFrame:
        """Forecast ``h`` months after the history; counts with interval columns per level."""
        self._check_fitted()
        if not isinstance(h, int | np.integer) or h < 1:
            raise ValueError(f"h must be a positive integer, got {h!r}")
        assert self.z_ is not None and self.ds_ is not None
        levels = _check_levels(levels)
        z_hat = np.maximum(self.point_log(int(h)), 0.0)
        if self.calibration is not None:
            cal = self.calibration.pick(self.z_)
        else:
            cal = Calibration.random_walk(self.z_, levels, max(h, 12))
        bounds = cal.bounds(z_hat, series_scale(self.z_), levels)
        ds = pd.date_range(self.ds_[-1] + pd.offsets.MonthBegin(1), periods=h, freq="MS")
        mean = self._grid(z_hat)
        out = pd.DataFrame({"ds": ds, "mean": mean})
        for level in levels:
            lo, hi = (np.expm1(b) for b in bounds[level])
            if self.snap:
                lo, hi = band_on_grid(lo, hi, mean, self.unit_)
            out[f"lo-{level}"] = np.minimum(lo, mean).clip(min=0)
            out[f"hi-{level}"] = np.maximum(hi, mean)
        return out

    def _grid(self, z: np.ndarray) -> np.ndarray:
        counts = np.expm1(z)
        return on_grid(counts, self.unit_) if self.snap else counts

    def _check_fitted(self) -> None:
        if self.z_ is None:
            raise NotFitted(f"{type(self).__name__}.predict called before fit")


class RandomWalk(LogModel):
    """Carry the last value forward: the baseline every relative metric divides by."""

    name = "rw"

    def delta(self, h: int) -> np.ndarray:
        return np.zeros(h)


class SeasonalNaive(LogModel):
    """The value of the same month ``season`` months earlier (random walk when too short)."""

    name = "snaive"

    def __init__(self, season: int = 12, calibration: AnyCalibration | None = None) -> None:
        if not isinstance(season, int) or season < 1:
            raise ConfigError(f"season must be a positive integer, got {season!r}")
        super().__init__(calibration)
        self.season = season

    def delta(self, h: int) -> np.ndarray:
        z, s = self.z_, self.season
        assert z is not None
        if len(z) < s:
            return np.zeros(h)
        base = z[-s:]
        return base[np.arange(h) % s] - z[-1]


class SparseMedian(LogModel):
    """For series with few non-zero months: the median of the last ``window`` months.

    On a series of mostly zeros and tens (counts are rounded to 10), the
    median is what minimises absolute error; the last value is mostly noise.
    """

    name = "sparse"

    def __init__(self, window: int = 12, calibration: AnyCalibration | None = None) -> None:
        if not isinstance(window, int) or window < 1:
            raise ConfigError(f"window must be a positive integer, got {window!r}")
        super().__init__(calibration)
        self.window = window

    def delta(self, h: int) -> np.ndarray:
        assert self.z_ is not None
        return np.full(h, float(np.median(self.z_[-self.window :])) - self.z_[-1])


#: Recent statsforecast fits by (kind, season, window of log counts): a backtest fits
#: Theta as a candidate and again inside the combination on the same history, and
#: the fit is deterministic, so the second one is the first one's forecast.
_FIT_CACHE: OrderedDict[tuple[str, int, bytes], np.ndarray | None] = OrderedDict()
_FIT_CACHE_SIZE = 256


class StatsForecastModel(LogModel):
    """A statsforecast model on the log1p scale over the last ``window`` months.

    ``kind`` is ``"theta"`` (DynamicOptimizedTheta), ``"ets"`` (AutoETS) or
    ``"arima"`` (AutoARIMA with statsforecast's defaults; several times slower
    than the other two, kept for comparisons rather than served).
    Seasonality is used only with two full years of history. A fit that
    fails (degenerate series) falls back to the random walk's zero change.
    """

    def __init__(
        self,
        kind: str = "theta",
        season: int = 12,
        window: int = 120,
        calibration: AnyCalibration | None = None,
    ) -> None:
        if kind not in ("theta", "ets", "arima"):
            raise ConfigError(f"kind must be 'theta', 'ets' or 'arima', got {kind!r}")
        if not isinstance(window, int) or window < 6:
            raise ConfigError(f"window must be an integer >= 6, got {window!r}")
        super().__init__(calibration)
        self.kind, self.season, self.window = kind, season, window
        self.name = kind
        self.mean_: np.ndarray | None = None

    def _fit(self, history: pd.DataFrame) -> None:
        self.mean_ = None
        assert self.z_ is not None
        z = self.z_[-self.window :]
        if len(z) < 6 or np.ptp(z) == 0:
            return
        from statsforecast.models import AutoARIMA, AutoETS, DynamicOptimizedTheta

        season = self.season if len(z) >= 2 * self.season else 1
        kinds = {"theta": DynamicOptimizedTheta, "ets": AutoETS, "arima": AutoARIMA}
        model = kinds[self.kind](season_length=season)
        key = (self.kind, season, z.astype(float).tobytes())
        if key in _FIT_CACHE:
            _FIT_CACHE.move_to_end(key)
            self.mean_ = _FIT_CACHE[key]
            return
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.mean_ = np.asarray(model.forecast(y=z.astype(float), h=24)["mean"])
        except Exception:  # statsforecast raises bare errors on degenerate input
            self.mean_ = None
        _FIT_CACHE[key] = self.mean_
        if len(_FIT_CACHE) > _FIT_CACHE_SIZE:
            _FIT_CACHE.popitem(last=False)

    def delta(self, h: int) -> np.ndarray:
        if self.mean_ is None or not np.isfinite(self.mean_).all():
            return np.zeros(h)
        mean = self.mean_
        if h > len(mean):
            mean = np.concatenate([mean, np.full(h - len(mean), mean[-1])])
        assert self.z_ is not None
        return mean[:h] - self.z_[-1]


class ProphetModel(LogModel):
    """Prophet on log1p with yearly seasonality and the policy events as regressors.

    Only events that apply to the series, were announced by the end of the
    history, and changed within it are used (an event not yet in effect has
    no data to estimate it from). The forecast served is the *change* Prophet
    predicts from its own fitted value at the last month, added to the last
    observed value (Prophet's level alone loses badly to the random walk).
    The fitted Prophet keeps no Stan backend, so it pickles (prophet #1384).

    Parameters
    ----------
    events : list of PolicyEvent
        The calendar; filtered as of the history's last month.
    changepoint_prior_scale, window : float, int
        Trend flexibility, and how many recent months to fit on.
    """

    name = "prophet"

    def __init__(
        self,
        events: Sequence[PolicyEvent] = (),
        changepoint_prior_scale: float = 0.05,
        window: int = 120,
        calibration: AnyCalibration | None = None,
    ) -> None:
        if not changepoint_prior_scale > 0:
            raise ConfigError("changepoint_prior_scale must be > 0")
        if not isinstance(window, int) or window < 24:
            raise ConfigError(f"window must be an integer >= 24, got {window!r}")
        super().__init__(calibration)
        self.events = list(events)
        self.changepoint_prior_scale = changepoint_prior_scale
        self.window = window
        self.model_: Prophet | None = None
        self.used_events_: list[PolicyEvent] = []

    def _fit(self, history: pd.DataFrame) -> None:
        import logging

        from prophet import Prophet

        logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
        assert self.z_ is not None and self.ds_ is not None
        ds = self.ds_[-self.window :]
        z = self.z_[-self.window :]
        events = known_as_of(self.events, ds[-1])
        reg = regressors(events, self.unique_id or "ALL:all:all", ds)
        keep = [c for c in reg.columns if reg[c].std() > 0]
        self.used_events_ = [e for e in events if e.id in keep]
        frame = pd.DataFrame({"ds": ds, "y": z}).join(reg[keep])
        m = Prophet(
            yearly_seasonality=len(z) >= 24,
            weekly_seasonality=False,
            daily_seasonality=False,
            changepoint_prior_scale=self.changepoint_prior_scale,
            uncertainty_samples=0,
        )
        for col in keep:
            m.add_regressor(col, prior_scale=1.0, standardize=False)
        try:
            m.fit(frame)
        except Exception as exc:  # Stan's errors are not typed
            raise ModelError(f"prophet fit failed: {exc}") from exc
        m.stan_backend = None
        self.model_ = m

    def _future(self, h: int) -> pd.DataFrame:
        assert self.ds_ is not None
        last = self.ds_[-1]
        ds = pd.date_range(last, periods=h + 1, freq="MS")
        reg = regressors(self.used_events_, self.unique_id or "ALL:all:all", ds)
        return pd.DataFrame({"ds": ds}).join(reg)

    def delta(self, h: int) -> np.ndarray:
        assert self.model_ is not None
        yhat = self.model_.predict(self._future(h))["yhat"].to_numpy()
        return yhat[1:] - yhat[0]

    def effects(self) -> dict[str, float]:
        """Each used event's effect as a relative change in counts (0.25 = +25%)."""
        self._check_fitted()
        if self.model_ is None:
            return {}
        from prophet.utilities import regressor_coefficients

        coef = regressor_coefficients(self.model_)
        return {r: float(np.expm1(c)) for r, c in zip(coef["regressor"], coef["coef"], strict=True)}


# --- the global model -------------------------------------------------------------


def _shift(a: np.ndarray, k: int) -> np.ndarray:
    out = np.full_like(a, np.nan)
    if k < len(a):
        out[k:] = a[: len(a) - k]
    return out


def _rolling(a: np.ndarray, k: int, how: str) -> np.ndarray:
    """Trailing k-month mean or max along axis 0; NaN until k months exist."""
    out = np.full_like(a, np.nan)
    if len(a) >= k:
        win = np.lib.stride_tricks.sliding_window_view(a, k, axis=0)
        out[k - 1 :] = win.mean(-1) if how == "mean" else win.max(-1)
    return out


def base_features(z: np.ndarray) -> list[np.ndarray]:
    """The horizon-free features of each (month, series); see :func:`global_features`."""
    return [
        z - _shift(z, 1),
        _shift(z, 1) - _shift(z, 2),
        _shift(z, 2) - _shift(z, 3),
        z - _shift(z, 3),
        _shift(z, 3) - _shift(z, 6),
        z - _shift(z, 12),
        z - _rolling(z, 3, "mean"),
        z - _rolling(z, 12, "mean"),
        z - _rolling(z, 12, "max"),
        z,
        (z < np.log1p(30)).astype(float),
    ]


def global_features(
    z: np.ndarray, months: pd.DatetimeIndex, h: int, base: list[np.ndarray] | None = None
) -> np.ndarray:
    """Features of each (month, series) for forecasting ``h`` months ahead.

    ``z`` is log1p counts, months x series (NaN before a series starts).
    Only the series' own past is used, so a fitted model serves any single
    history: recent changes, distance from its 3- and 12-month mean and
    12-month high, level, a small-count flag, the average change from the
    same month in the last three years, and the target calendar month.
    """
    own = list(base_features(z) if base is None else base)
    seas, cnt = np.zeros_like(z), np.zeros_like(z)
    for k in (1, 2, 3):
        d = _shift(z, 12 * k - h) - _shift(z, 12 * k)
        ok = ~np.isnan(d)
        seas[ok] += d[ok]
        cnt[ok] += 1
    own.append(np.where(cnt > 0, seas / np.maximum(cnt, 1), 0.0))
    target = (months.month.to_numpy() - 1 + h) % 12
    dummies = [np.broadcast_to((target == m)[:, None], z.shape).astype(float) for m in range(12)]
    return np.stack(own + dummies, axis=-1)


def _global_rows(
    z: np.ndarray, months: pd.DatetimeIndex, h: int, base: list[np.ndarray], ok: np.ndarray
) -> np.ndarray:
    """``global_features(z, months, h, base)[: len(z) - h]`` flattened, on the rows ``ok``."""
    n = len(z) - h
    seas, cnt = np.zeros_like(z[:n]), np.zeros_like(z[:n])
    for k in (1, 2, 3):
        d = (_shift(z, 12 * k - h) - _shift(z, 12 * k))[:n]
        good = ~np.isnan(d)
        seas[good] += d[good]
        cnt[good] += 1
    cols = [f[:n].reshape(-1)[ok] for f in base]
    cols.append(np.where(cnt > 0, seas / np.maximum(cnt, 1), 0.0).reshape(-1)[ok])
    target = (months.month.to_numpy()[:n] - 1 + h) % 12
    target = np.broadcast_to(target[:, None], (n, z.shape[1])).reshape(-1)[ok]
    cols.extend((target == m).astype(float) for m in range(12))
    return np.stack(cols, axis=-1)


class GlobalRidge:
    """One pooled regression per horizon of the log change, over every series of a frame.

    Trained on all series as of a cut-off (not only those that later grew),
    on rows whose trailing 12-month level is at least ``min_level`` counts,
    with an absolute-error loss (iteratively reweighted ridge) because the
    changes are heavy-tailed.

    Parameters
    ----------
    max_h : int
        Horizons fitted, 1..max_h.
    lam : float
        Ridge penalty on standardised features.
    min_level : float
        Rows of near-empty series teach nothing but noise.
    window : int
        Months of training rows before the cut-off.
    """

    def __init__(
        self, max_h: int = 12, lam: float = 10.0, min_level: float = 30.0, window: int = 180
    ) -> None:
        if not isinstance(max_h, int) or max_h < 1:
            raise ConfigError(f"max_h must be a positive integer, got {max_h!r}")
        if lam < 0 or min_level < 0 or window < 24:
            raise ConfigError("lam and min_level must be >= 0 and window >= 24")
        self.max_h, self.lam, self.min_level, self.window = max_h, lam, min_level, window
        self.coef_: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = None
        self.cutoff_: pd.Timestamp | None = None

    def fit(self, frame: pd.DataFrame) -> Self:
        """Fit on a long frame (``unique_id, ds, y``); its last month is the cut-off."""
        wide = frame.pivot(index="ds", columns="unique_id", values="y").sort_index()
        wide = wide.iloc[-(self.window + 24) :]
        z = np.log1p(wide.to_numpy(dtype=float))
        months = pd.DatetimeIndex(wide.index)
        active = _rolling(z, 12, "mean") >= np.log1p(self.min_level)
        self.coef_ = []
        base = base_features(z)
        # rows with every horizon-free feature known; the seasonal and calendar
        # features are never NaN, so the stacked matrix is built on kept rows only
        known = ~np.isnan(np.stack(base, axis=-1)).any(-1) & active
        for h in range(1, self.max_h + 1):
            n = len(z) - h
            y = (z[h:] - z[:-h]).reshape(-1)
            ok = known[:n].reshape(-1) & ~np.isnan(y)
            x = _global_rows(z, months, h, base, ok)
            if ok.sum() < 50:
                raise ModelError(f"too few active rows ({ok.sum()}) to fit the global model")
            self.coef_.append(self._fit_horizon(x, y[ok]))
        self.cutoff_ = months[-1]
        return self

    def _fit_horizon(self, x: np.ndarray, y: np.ndarray) -> Any:
        """One horizon's fitted predictor of the log change from its feature rows."""
        return _irls(x, y, self.lam)

    def _predict_horizon(self, fitted: Any, x: np.ndarray) -> float:
        mu, sd, beta = fitted
        return float(np.append((x - mu) / sd, 1.0) @ beta)

    def delta(self, z: np.ndarray, months: pd.DatetimeIndex, h: int) -> np.ndarray:
        """Predicted log changes for one series' history ``z`` over horizons 1..h."""
        if self.coef_ is None:
            raise NotFitted("GlobalRidge.delta called before fit")
        out = np.zeros(h)
        tail = z[-40:].reshape(-1, 1)
        base = base_features(tail)
        for k in range(1, min(h, self.max_h) + 1):
            x = global_features(tail, months[-len(tail) :], k, base)[-1, 0]
            out[k - 1] = self._predict_horizon(self.coef_[k - 1], np.nan_to_num(x))
        out[self.max_h :] = out[min(h, self.max_h) - 1]
        return out


def _irls(x: np.ndarray, y: np.ndarray, lam: float, steps: int = 6):
    """Ridge with an absolute-error loss by iterative reweighting; returns (mu, sd, beta)."""
    mu, sd = x.mean(0), x.std(0) + 1e-9
    xs = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w = np.ones(len(y))
    pen = lam * np.eye(xs.shape[1])
    pen[-1, -1] = 0.0
    for _ in range(steps):
        beta = np.linalg.solve(xs.T @ (xs * w[:, None]) + pen, xs.T @ (w * y))
        w = 1.0 / np.maximum(np.abs(y - xs @ beta), 0.05)
    return mu, sd, beta


_BOOSTER_LOCK = threading.Lock()


class GlobalBoosted(GlobalRidge):
    """The global model with gradient-boosted trees (LightGBM, absolute-error loss) per horizon.

    The same rows and features as :class:`GlobalRidge`; trees find what a
    linear fit cannot (a change means something else at 20 a month than at
    20,000). In the served combination it backtested better than the ridge
    (``bench/accuracy.py``). Seeded and single-threaded, so a refit on the
    same data gives the same forecasts.
    """

    #: LightGBM parameters; ``rounds`` trees per horizon.
    params: ClassVar[dict[str, Any]] = {
        "objective": "l1",
        "learning_rate": 0.05,
        "num_leaves": 15,
        "min_data_in_leaf": 50,
        "bagging_fraction": 0.8,
        "bagging_freq": 1,
        "feature_fraction": 0.8,
        "num_threads": 1,
        "seed": 0,
        "verbose": -1,
    }
    rounds = 300

    def _fit_horizon(self, x: np.ndarray, y: np.ndarray) -> Any:
        import lightgbm

        return lightgbm.train(self.params, lightgbm.Dataset(x, y), self.rounds)

    def _predict_horizon(self, fitted: Any, x: np.ndarray) -> float:
        # One thread here as in training: an OpenMP pool started in a process
        # hangs the children it forks (training fits series in forked workers).
        # One prediction at a time: the API's threads share a kept plan's boosters
        # (vintages.loaded_plan), and LightGBM #6142 reports a race in predict.
        with _BOOSTER_LOCK:
            return float(fitted.predict(x[None, :], num_threads=1)[0])


class GlobalMember(LogModel):
    """One series served by a fitted :class:`GlobalRidge` or :class:`GlobalBoosted`."""

    name = "global"

    def __init__(self, model: GlobalRidge, calibration: AnyCalibration | None = None) -> None:
        if model.coef_ is None:
            raise NotFitted("GlobalMember needs a fitted GlobalRidge")
        super().__init__(calibration)
        self.model = model

    def _fit(self, history: pd.DataFrame) -> None:
        if self.model is None:
            raise ModelError("a saved global member keeps its changes, not the global model")
        assert self.z_ is not None and self.ds_ is not None
        if self.ds_[-1] > self.model.cutoff_ + pd.DateOffset(months=24):
            warnings.warn("global model is over two years older than the history", stacklevel=2)
        # an older history is fine: the model only saw earlier months of it
        self.changes_ = self.model.delta(self.z_, self.ds_, self.model.max_h)

    def delta(self, h: int) -> np.ndarray:
        # past the global model's horizons its last change holds, as in GlobalRidge.delta
        return np.pad(self.changes_, (0, max(h - len(self.changes_), 0)), mode="edge")[:h]

    def __getstate__(self) -> dict[str, Any]:
        # Save what predicts, not the trees: every series' artifact would
        # otherwise carry the whole global model (2 MB compressed).
        return {**self.__dict__, "model": None}


# --- the combination ------------------------------------------------------------------


class Anchored(LogModel):
    """The last observed value plus a combination of its members' predicted changes.

    ``how="median"`` takes the median of the members' changes together with
    the random walk's zero change; ``"mean"`` takes a mean weighted by
    ``weights``. ``shrink`` scales the combined change toward zero. A member
    whose fit fails is left out (the others carry on), so the combination
    degrades toward the random walk rather than failing.
    """

    def __init__(
        self,
        members: Mapping[str, LogModel],
        how: str = "median",
        weights: Mapping[str, float] | None = None,
        shrink: float = 1.0,
        include_rw: bool = True,
        name: str | None = None,
        calibration: AnyCalibration | None = None,
    ) -> None:
        if how not in ("median", "mean"):
            raise ConfigError(f"how must be 'median' or 'mean', got {how!r}")
        if not members:
            raise ConfigError("members must name at least one model")
        if not 0 <= shrink <= 2:
            raise ConfigError(f"shrink must be within [0, 2], got {shrink}")
        unknown = set(weights or {}) - set(members) - {"rw"}
        if unknown:
            raise ConfigError(f"weights name unknown members {sorted(unknown)}")
        super().__init__(calibration)
        self.members, self.how, self.weights = dict(members), how, dict(weights or {})
        self.shrink, self.include_rw = shrink, include_rw
        self.name = name or f"{how}({'+'.join(['rw'] * include_rw + list(members))})"
        self.fitted_: dict[str, LogModel] = {}

    def _fit(self, history: pd.DataFrame) -> None:
        self.fitted_ = {}
        for key, member in self.members.items():
            try:
                self.fitted_[key] = member.fit(history)
            except ModelError:
                continue

    def delta(self, h: int) -> np.ndarray:
        deltas = {k: m.delta(h) for k, m in self.fitted_.items()}
        if self.include_rw:
            deltas["rw"] = np.zeros(h)
        if not deltas:
            return np.zeros(h)
        stack = np.vstack(list(deltas.values()))
        if self.how == "median":
            return self.shrink * np.median(stack, axis=0)
        w = np.array([self.weights.get(k, 1.0) for k in deltas])
        return self.shrink * (w @ stack) / w.sum()


# --- what is served ---------------------------------------------------------------

#: A series with fewer non-zero months than this in the last 24 gets :class:`SparseMedian`.
MIN_NONZERO = 6


def is_sparse(y: np.ndarray) -> bool:
    """Fewer than :data:`MIN_NONZERO` non-zero months among the last 24."""
    return int(np.count_nonzero(np.asarray(y)[-24:])) < MIN_NONZERO


class Bordercast(LogModel):
    """The served model: the backtest-chosen anchored combination, or a simple one if sparse.

    Members are Theta, the global model (when given) and Prophet with the
    policy regressors (when events are given), combined as the median of
    their changes together with the random walk's zero change (the rule
    that backtested best; see ``bench/accuracy.py``). Sparse series get
    :class:`SparseMedian`.
    """

    name = "bordercast"

    def __init__(
        self,
        global_model: GlobalRidge | None = None,
        events: Sequence[PolicyEvent] | None = None,
        how: str = "median",
        calibration: AnyCalibration | None = None,
    ) -> None:
        super().__init__(calibration)
        members: dict[str, LogModel] = {"theta": StatsForecastModel("theta")}
        if global_model is not None:
            members["global"] = GlobalMember(global_model)
        if events is not None:
            members["prophet"] = ProphetModel(events)
        self.combination = Anchored(members, how=how)
        self.global_model, self.events = global_model, events
        self.chosen_: LogModel | None = None

    def _fit(self, history: pd.DataFrame) -> None:
        sparse = is_sparse(history["y"].to_numpy())
        self.chosen_ = (SparseMedian() if sparse else self.combination).fit(history)

    def delta(self, h: int) -> np.ndarray:
        assert self.chosen_ is not None
        return self.chosen_.delta(h)

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "global_model": None}  # see GlobalMember.__getstate__

    @property
    def chosen_name(self) -> str:
        return self.chosen_.name if self.chosen_ is not None else "unfitted"

    def effects(self) -> dict[str, float]:
        """Policy effects of the Prophet member (relative change per event), if it was fitted."""
        fitted = getattr(self.chosen_, "fitted_", {})
        return fitted["prophet"].effects() if "prophet" in fitted else {}


def served_model(
    unique_id: str,
    cutoff: pd.Timestamp,
    frame: pd.DataFrame,
    global_model: GlobalRidge | None = None,
    events: Sequence[PolicyEvent] | None = None,
    calibration: AnyCalibration | None = None,
) -> Bordercast:
    """A fresh served model for one series as of ``cutoff`` (a :class:`ModelFactory` shape).

    ``frame`` and ``unique_id`` are accepted so the factory signature matches
    :func:`forecasting.backtest.cross_validate`; events are filtered as of
    each fit's last month inside the Prophet member.
    """
    return Bordercast(global_model, events, calibration=calibration)


# --- entry points for the registry, the service and the flows -----------------------------


@dataclass
class SeriesForecast:
    """An as-of forecast of one series, or the reason there is none.

    ``status`` is ``"ok"`` (the combination), ``"sparse"`` (too few non-zero
    months: :class:`SparseMedian`) or ``"stopped"``: the series ended before
    the newest month of its source, so it is *not forecast* (``forecast`` is
    None) rather than forecast as zero. ``as_of`` is the last month used.
    """

    unique_id: str
    status: str
    as_of: pd.Timestamp
    model: str
    forecast: pd.DataFrame | None
    message: str = ""
    effects: dict[str, float] = field(default_factory=dict)


def source_newest(frame: pd.DataFrame, unique_id: str) -> pd.Timestamp:
    """Newest month among series of the same region and component (the source's reach)."""
    suffix = unique_id.split(":", 1)[1] if ":" in unique_id else unique_id
    same = frame["unique_id"].str.endswith(":" + suffix)
    return frame.loc[same, "ds"].max() if same.any() else frame["ds"].max()


def sources_newest(frame: pd.DataFrame) -> dict[str, pd.Timestamp]:
    """:func:`source_newest` of every series of ``frame`` at once.

    Same rule, but matched over the distinct ids and their last months
    rather than over every row once per series (which made it quadratic).
    """
    last = frame.groupby("unique_id")["ds"].max()
    ids = [str(u) for u in last.index]
    months = last.to_numpy()
    fallback = frame["ds"].max()
    out: dict[str, pd.Timestamp] = {}
    for uid in ids:
        suffix = ":" + (uid.split(":", 1)[1] if ":" in uid else uid)
        same = [m for v, m in zip(ids, months, strict=True) if v.endswith(suffix)]
        out[uid] = pd.Timestamp(max(same)) if same else fallback
    return out


def forecast_series(
    frame: pd.DataFrame,
    unique_id: str,
    h: int = 12,
    as_of: pd.Timestamp | str | None = None,
    events: Sequence[PolicyEvent] | None = None,
    levels: Sequence[int] = LEVELS,
    global_model: GlobalRidge | None = None,
    calibration: AnyCalibration | None = None,
) -> SeriesForecast:
    """Forecast one series as of a month, using only what was known then.

    Parameters
    ----------
    frame : DataFrame
        Long ``unique_id, ds, y`` (``Store.series_frame()``); may extend past
        ``as_of``: later rows are cut off here.
    as_of : month, optional
        The origin (included in the history); default the frame's last month.
    events : list of PolicyEvent, optional
        Adds the Prophet member with the events announced by ``as_of``
        (about +0.5 s). Omit for the faster combination.
    global_model, calibration : optional
        From a training (:mod:`forecasting.training`). Each is used only if it was trained on data
        up to ``as_of`` at most; otherwise the global member is left out and
        the intervals come from the series' own past changes, so an as-of
        forecast never sees the future.

    Raises
    ------
    UnknownSeries
        If the frame holds no row of ``unique_id`` up to ``as_of``.
    """
    if not isinstance(h, int) or h < 1:
        raise ValueError(f"h must be a positive integer, got {h!r}")
    if as_of is not None:
        as_of = pd.Timestamp(as_of).to_period("M").to_timestamp()
        frame = frame[frame["ds"] <= as_of]
    history = frame[frame["unique_id"] == unique_id]
    if history.empty:
        raise UnknownSeries(unique_id)
    last = history["ds"].iloc[-1]
    newest = source_newest(frame, unique_id)
    if last < newest:
        message = f"not forecast: stopped reporting after {last:%Y-%m} (source has {newest:%Y-%m})"
        return SeriesForecast(unique_id, "stopped", last, "none", None, message)
    if global_model is not None and global_model.cutoff_ > last:
        global_model = None
    if calibration is not None and (calibration.cutoff is None or calibration.cutoff > last):
        calibration = None
    events = known_as_of(list(events), last) if events is not None else None
    model = Bordercast(global_model, events, calibration=calibration).fit(history)
    status = "sparse" if isinstance(model.chosen_, SparseMedian) else "ok"
    return SeriesForecast(
        unique_id,
        status,
        last,
        model.chosen_name,
        model.predict(h, levels),
        effects=model.effects(),
    )
