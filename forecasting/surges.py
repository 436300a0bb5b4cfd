"""Surge and drop detection, and the episodes that turn signals into alerts.

A month is a *surge* for a series when it stands out against the series' own
recent past, on tests that must all hold:

- a recent high: the count is the highest of the last ``recent_high`` months
  (this month included);
- a ratio: the count is at least ``ratio`` times the trailing level, the mean
  of the ``window`` months *before* this one;
- a minimum: the count is at least ``minimum``, so that 3 encounters after a
  year of 1 is not a surge;
- a season: the count is at least ``seasonal_ratio`` times the same months a
  year before, so that the spring peak every year is not a surge;
- persistence: the ratio and the minimum hold for ``persistence`` months in
  a row.

The severity grows with the excess: ``watch`` when the tests hold, ``warning``
or ``critical`` when the ratio reaches ``warning_ratio`` or
``critical_ratio``, or when the count lies ``upper_warning`` or
``upper_critical`` times above the upper bound of the forecast made the month
before (when the caller has one; detection works without it). Why not the
forecast interval alone: on these series a one-step interval is wide for
small series and a gradual surge never leaves it, so it misses surges and
warns late (``forecasting/replay.py`` measures it); the ratio to the trailing
level is what separates real surges from noise.

A *drop* is a count at most ``drop_ratio`` times the trailing *median* (of
the same ``window``), when that median is at least ``drop_minimum``; the
median, because after a surge the trailing mean is inflated and a series
coming back down to where it was is no drop.

Signals become *episodes* (:func:`episodes`): an episode opens on the first
signal, escalates when the severity rises above the highest it has reached,
and resolves when the series falls back toward its trailing level for
``resolve_months`` months in a row. Each transition is one
:class:`EpisodeEvent` with a stable ``event_id``, so a caller sends exactly one
notification per open, escalation and resolution, never one per month.

With ``SurgeSettings(use_indicators=True)`` and a frame of transit
indicators, a jump in a citizenship's Darién or Ecuador count
(:mod:`forecasting.transit_watch`) also opens a ``watch`` on its southwest
series, dated the month the count was public; the U.S. counts escalate and
resolve it like any other episode, and its events carry a ``reason`` naming
the indicator and its change. Off by default: replayed over 2020-2025
(``bench/transit_watch.py``) it warned earlier on 4 small series' surges
and on none of the large ones, and added more false episodes than it
removed.

Everything here is causal: the signal of month *t* reads counts up to *t*
only (and indicator months public by *t*), and the episodes up to month *M*
are the same whether computed in one pass to *M* or month by month (the
monthly run relies on this to send only the events dated *M*).

Frames are in the long shape ``unique_id, ds, y`` (``ds`` a month start,
``y >= 0``), sorted, one row per series-month.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from forecasting import transit_watch
from forecasting.errors import ConfigError

__all__ = [
    "SEVERITIES",
    "Episode",
    "EpisodeEvent",
    "SurgeSettings",
    "detect",
    "episodes",
    "events_frame",
    "new_events",
    "on_matrix",
    "signals",
]

#: Severities in increasing order; their index + 1 is the grade used internally.
SEVERITIES: tuple[str, ...] = ("watch", "warning", "critical")
KINDS: tuple[str, ...] = ("surge", "drop")
_NONE, _SURGE, _DROP = 0, 1, 2


@dataclass(frozen=True)
class SurgeSettings:
    """Thresholds of the detector and of the episode state machine.

    The defaults were chosen by replaying detection over the bundled OHSS
    history (southwest USBP, 2012-2024; ``forecasting/replay.py``,
    ``bench/detection.py``): on half of the series (every other citizenship
    code), the grid point with the most real alerts among those catching
    >= 95% of surges >= 3 months early while on <= 8% of the time; the other
    half was held out to check them. Every field is
    checked at construction; a bad value raises
    :class:`~forecasting.errors.ConfigError` naming the field.

    Parameters
    ----------
    window : int
        Months in the trailing level (the mean of the months before the one
        tested, the month itself excluded). 3 to 36.
    ratio : float
        A surge needs the count to be at least this multiple of the trailing
        level. Greater than 1.
    minimum : float
        A surge needs at least this many encounters in the month. >= 0.
    recent_high : int
        A surge needs the count to be the highest of the last ``recent_high``
        months, this one included (1 switches the test off). 1 to 36.
    seasonal_ratio : float
        A surge also needs the count to be at least this multiple of the
        same season a year before (the mean of the months 11 to 13 before):
        border crossings peak every spring, and a spring peak twice the
        trailing level is no surge if last spring was as high. 1 switches
        the test off. >= 1.
    persistence : int
        Consecutive months, this one included, that must each meet the ratio
        and the minimum: 2 ignores one-month blips at the cost of a month of
        warning. 1 to 6.
    warning_ratio, critical_ratio : float
        Ratios to the trailing level that raise a surge to ``warning`` and to
        ``critical``; ``ratio <= warning_ratio <= critical_ratio``.
    upper_warning, upper_critical : float
        A surge whose count is at least this multiple of the upper bound of
        the forecast made the month before is at least ``warning`` /
        ``critical``. Positive, ``upper_warning <= upper_critical``.
    drop_ratio, drop_warning, drop_critical : float
        A drop is a count at most ``drop_ratio`` times the trailing median;
        ``drop_warning`` and ``drop_critical`` are the smaller fractions for
        the higher severities. ``1 > drop_ratio >= drop_warning >=
        drop_critical >= 0``.
    drop_minimum : float
        Drops are only reported for series whose trailing median is at least
        this (a series of 4 a month falling to 1 is not news). >= 0.
    resolve_ratio : float
        An open surge episode counts a month toward resolution when the count
        is below ``resolve_ratio`` times the trailing level (the series is
        back near its level, which itself catches up with a lasting rise).
        ``1 <= resolve_ratio <= ratio``.
    drop_resolve_ratio : float
        An open drop episode counts a month toward resolution when the count
        is at least this fraction of the trailing median.
        ``drop_ratio <= drop_resolve_ratio <= 1``.
    resolve_months : int
        Consecutive such months that resolve an episode. 1 to 12.
    use_indicators : bool
        Let a jump in a citizenship's Darién or Ecuador count open a
        ``watch`` on its southwest series (:mod:`forecasting.transit_watch`);
        the episode functions then need the indicator frame. Off: the replay
        over 2020-2025 (``bench/transit_watch.py``) found more false episodes
        with it than without.
    indicator_window : int
        Months in the indicator's trailing mean. 1 to 24.
    indicator_ratio : float
        An indicator jumps at this multiple of its trailing mean. > 1.
    indicator_minimum : float
        ... and at this many people in the month at least. >= 0.
        The three ``indicator_*`` defaults are the replay's pick on the
        tuning half of the citizenships.
    """

    window: int = 24
    ratio: float = 2.0
    minimum: float = 150.0
    recent_high: int = 12
    seasonal_ratio: float = 2.5
    persistence: int = 1
    warning_ratio: float = 3.0
    critical_ratio: float = 5.0
    upper_warning: float = 1.0
    upper_critical: float = 1.5
    drop_ratio: float = 0.4
    drop_warning: float = 0.25
    drop_critical: float = 0.1
    drop_minimum: float = 100.0
    resolve_ratio: float = 1.25
    drop_resolve_ratio: float = 0.7
    resolve_months: int = 1
    use_indicators: bool = False
    indicator_window: int = 6
    indicator_ratio: float = 5.0
    indicator_minimum: float = 50.0

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise ConfigError(
                        f"surge setting {f.name!r} must be true or false, got {value!r}"
                    )
                continue
            want = int if f.type in ("int", int) else float
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if want is int:
                ok = ok and float(value).is_integer()
            if not ok or not np.isfinite(value):
                raise ConfigError(
                    f"surge setting {f.name!r} must be a finite {want.__name__}, got {value!r}"
                )
            object.__setattr__(self, f.name, want(value))
        self._check("window", 3 <= self.window <= 36, "between 3 and 36 months")
        self._check("ratio", self.ratio > 1, "greater than 1")
        self._check("minimum", self.minimum >= 0, ">= 0")
        self._check("recent_high", 1 <= self.recent_high <= 36, "between 1 and 36 months")
        self._check("seasonal_ratio", self.seasonal_ratio >= 1, ">= 1")
        self._check("persistence", 1 <= self.persistence <= 6, "between 1 and 6 months")
        self._check("warning_ratio", self.warning_ratio >= self.ratio, ">= ratio")
        self._check("critical_ratio", self.critical_ratio >= self.warning_ratio, ">= warning_ratio")
        self._check("upper_warning", self.upper_warning > 0, "> 0")
        self._check("upper_critical", self.upper_critical >= self.upper_warning, ">= upper_warning")
        self._check("drop_ratio", 0 < self.drop_ratio < 1, "between 0 and 1, exclusive")
        self._check(
            "drop_warning", 0 <= self.drop_warning <= self.drop_ratio, "between 0 and drop_ratio"
        )
        self._check(
            "drop_critical",
            0 <= self.drop_critical <= self.drop_warning,
            "between 0 and drop_warning",
        )
        self._check("drop_minimum", self.drop_minimum >= 0, ">= 0")
        self._check("resolve_ratio", 1 <= self.resolve_ratio <= self.ratio, "between 1 and ratio")
        self._check(
            "drop_resolve_ratio",
            self.drop_ratio <= self.drop_resolve_ratio <= 1,
            "between drop_ratio and 1",
        )
        self._check("resolve_months", 1 <= self.resolve_months <= 12, "between 1 and 12 months")
        self._check("indicator_window", 1 <= self.indicator_window <= 24, "between 1 and 24 months")
        self._check("indicator_ratio", self.indicator_ratio > 1, "greater than 1")
        self._check("indicator_minimum", self.indicator_minimum >= 0, ">= 0")

    def _check(self, name: str, ok: bool, allowed: str) -> None:
        if not ok:
            raise ConfigError(
                f"surge setting {name!r} must be {allowed}, got {getattr(self, name)!r}"
            )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> SurgeSettings:
        """Settings from a configuration mapping (YAML, environment); unknown keys are errors.

        Raises
        ------
        ConfigError
            Naming the unknown key or the field whose value is not allowed.
        """
        values = dict(values or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"unknown surge setting(s) {', '.join(map(repr, unknown))}; "
                f"allowed: {', '.join(sorted(known))}"
            )
        return cls(**values)

    def as_dict(self) -> dict[str, float | int | bool]:
        """The settings as plain values, for configuration files and reports."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class EpisodeEvent:
    """One transition of an episode: exactly one notification each.

    ``event_id`` is stable across replays (series, kind, month opened, action,
    month of the event), so the outbox can use it as an idempotency key.
    ``reason`` is set on the opening of a watch a transit indicator opened
    (``Darién crossings by nationals of India: 102 in 2021-04, x13.9 their
    6-month mean (7)``), ``None`` otherwise.
    """

    unique_id: str
    kind: Literal["surge", "drop"]
    action: Literal["open", "escalate", "resolve"]
    ds: pd.Timestamp
    opened: pd.Timestamp
    severity: str
    observed: float
    expected: float
    reason: str | None = None

    @property
    def event_id(self) -> str:
        return f"{self.unique_id}/{self.kind}/{self.opened:%Y-%m}/{self.action}/{self.ds:%Y-%m}"

    def as_dict(self) -> dict[str, object]:
        """The event as plain fields plus ``event_id`` (a shallow copy: no deep-copied stamps)."""
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["event_id"] = self.event_id
        return out


@dataclass(frozen=True)
class Episode:
    """One surge or drop of one series, from opening to resolution.

    ``resolved`` is ``None`` while the episode is open (as of the month
    replayed to). ``peak_severity`` is the highest severity reached,
    ``peak_observed`` the largest count (smallest for a drop) while open.
    ``reason`` names the transit indicator and its change when one opened
    the episode (see :class:`EpisodeEvent`), ``None`` when the U.S. counts
    did.
    """

    unique_id: str
    kind: Literal["surge", "drop"]
    opened: pd.Timestamp
    severity_at_open: str
    peak_severity: str
    peak_observed: float
    level_at_open: float
    escalated: tuple[pd.Timestamp, ...] = ()
    resolved: pd.Timestamp | None = None
    events: tuple[EpisodeEvent, ...] = field(default=(), repr=False)
    reason: str | None = None

    @property
    def is_open(self) -> bool:
        return self.resolved is None


# --------------------------------------------------------------------------- signals


@dataclass(frozen=True)
class _Wide:
    """Counts and derived quantities as month x series arrays (rows = months)."""

    months: pd.DatetimeIndex
    ids: pd.Index
    y: np.ndarray
    level: np.ndarray  # trailing mean: the level surges are measured against
    median: np.ndarray  # trailing median: the level drops are measured against
    seasonal: np.ndarray  # mean of the same month a year before and its neighbours
    high: np.ndarray
    fupper: np.ndarray
    kind: np.ndarray  # 0 none, 1 surge, 2 drop
    grade: np.ndarray  # 0 none, 1 watch, 2 warning, 3 critical
    upper: np.ndarray
    lower: np.ndarray


def _check_frame(frame: pd.DataFrame, name: str = "frame") -> None:
    missing = [c for c in ("unique_id", "ds", "y") if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(missing)}; expected unique_id, ds, y")


def _month(value: pd.Timestamp | str) -> pd.Timestamp:
    return pd.Timestamp(value).to_period("M").to_timestamp()


def _wide(
    frame: pd.DataFrame,
    settings: SurgeSettings,
    as_of: pd.Timestamp | None,
    forecast_upper: pd.DataFrame | None,
    first: pd.Timestamp | None = None,
) -> _Wide:
    """Pivot to month x series and compute every month's signal at once.

    ``first`` trims months before it *after* the rolling windows are taken, so
    the tail of a long history costs only the rows it needs.
    """
    _check_frame(frame)
    if as_of is not None:
        frame = frame[frame["ds"] <= as_of]
    wide = frame.pivot(index="ds", columns="unique_id", values="y")
    if wide.empty:
        months = pd.DatetimeIndex([], name="ds")
        empty = np.empty((0, wide.shape[1]))
        return _Wide(months, wide.columns, *(empty,) * 10)
    months = pd.date_range(wide.index.min(), wide.index.max(), freq="MS", name="ds")
    wide = wide.reindex(months)
    y = wide.to_numpy(dtype="float64")
    prev = wide.shift(1)
    rolling = prev.rolling(settings.window, min_periods=settings.window)
    level = rolling.mean().to_numpy()
    median = rolling.median().to_numpy()
    seasonal = wide.shift(11).rolling(3, min_periods=3).mean().to_numpy()
    if settings.recent_high > 1:
        high = prev.rolling(settings.recent_high - 1, min_periods=1).max().to_numpy()
    else:
        high = np.full_like(y, -np.inf)
    if forecast_upper is not None:
        _check_frame(forecast_upper.rename(columns={"upper": "y"}), "forecast_upper")
        fu = forecast_upper.pivot(index="ds", columns="unique_id", values="upper")
        fupper = fu.reindex(index=months, columns=wide.columns).to_numpy(dtype="float64")
    else:
        fupper = np.full_like(y, np.nan)
    kind, grade, upper, lower = _grade(y, level, median, seasonal, high, fupper, settings)
    arrays = [y, level, median, seasonal, high, fupper, kind, grade, upper, lower]
    if first is not None:
        keep = months >= first
        months = months[keep]
        arrays = [a[keep] for a in arrays]
    return _Wide(months, wide.columns, *arrays)


def _grade(
    y: np.ndarray,
    level: np.ndarray,
    median: np.ndarray,
    seasonal: np.ndarray,
    high: np.ndarray,
    fupper: np.ndarray,
    s: SurgeSettings,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Kind and severity grade of each cell, with the surge and drop thresholds.

    Drops are measured against the trailing *median*: after a surge the
    trailing mean is inflated, and a series coming back down to where it
    was is not a drop.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = y / np.maximum(level, 1.0)
        upper = np.fmax(np.fmax(s.ratio * level, s.minimum), high)
        if s.seasonal_ratio > 1:
            upper = np.fmax(upper, s.seasonal_ratio * seasonal)
        upper = np.where(np.isnan(level), np.nan, upper)
        lower = s.drop_ratio * median
        above = (y >= s.ratio * level) & (y >= s.minimum)
        if s.persistence > 1:
            # Each of the last ``persistence`` months met the ratio and the minimum.
            run = above.copy()
            for lag in range(1, s.persistence):
                run[lag:] &= above[:-lag]
                run[:lag] = False
            above = run
        surge = above & (y >= high) & (level >= 0)
        if s.seasonal_ratio > 1:
            surge &= y >= s.seasonal_ratio * np.fmax(seasonal, 1.0)
        drop = (median >= s.drop_minimum) & (y <= lower) & ~surge
        fu_ok = ~np.isnan(fupper) & (fupper > 0)
        sgrade = np.where(ratio >= s.critical_ratio, 3, np.where(ratio >= s.warning_ratio, 2, 1))
        fgrade = np.where(
            fu_ok & (y >= s.upper_critical * fupper),
            3,
            np.where(fu_ok & (y >= s.upper_warning * fupper), 2, 1),
        )
        dgrade = np.where(
            y <= s.drop_critical * median, 3, np.where(y <= s.drop_warning * median, 2, 1)
        )
    kind = np.where(surge, _SURGE, np.where(drop, _DROP, _NONE)).astype("int8")
    grade = np.where(surge, np.maximum(sgrade, fgrade), np.where(drop, dgrade, 0)).astype("int8")
    return kind, grade, upper, lower


def _signal_frame(w: _Wide, rows: np.ndarray) -> pd.DataFrame:
    """Long frame of the cells of ``rows`` (month indexes) that signal."""
    sub = w.kind[rows]
    r, c = np.nonzero(sub)
    r_abs = rows[r]
    kinds = sub[r, c]
    level = np.where(kinds == _DROP, w.median[r_abs, c], w.level[r_abs, c])
    y = w.y[r_abs, c]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = y / np.maximum(level, 1.0)
    out = pd.DataFrame(
        {
            "unique_id": w.ids.to_numpy()[c],
            "ds": w.months[r_abs],
            "kind": np.asarray(KINDS, dtype=object)[kinds - 1],
            "severity": np.asarray(SEVERITIES, dtype=object)[w.grade[r_abs, c] - 1],
            "observed": y,
            "expected": level,
            "lower": w.lower[r_abs, c],
            "upper": w.upper[r_abs, c],
            "ratio": ratio,
            "recent_high": w.high[r_abs, c],
            "forecast_upper": w.fupper[r_abs, c],
        }
    )
    return out.sort_values(["ds", "unique_id"], kind="stable").reset_index(drop=True)


def detect(
    frame: pd.DataFrame,
    settings: SurgeSettings | None = None,
    as_of: pd.Timestamp | str | None = None,
    forecast_upper: pd.DataFrame | None = None,
    since: pd.Timestamp | str | None = None,
) -> pd.DataFrame:
    """Surge and drop signals of the month ``as_of`` (or of ``since`` .. ``as_of``).

    Only counts up to ``as_of`` are read, so a past month is judged with what
    was known then.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``unique_id, ds, y`` of every series to check.
    settings : SurgeSettings, optional
        Thresholds; the replay-tuned defaults when omitted.
    as_of : Timestamp or str, optional
        The month to judge (any day of it); the newest month of ``frame``
        when omitted. A series without a count for that month gives no signal.
    forecast_upper : pandas.DataFrame, optional
        ``unique_id, ds, upper``: for month ``ds``, the upper bound of the
        forecast made the month before. It only raises severities.
    since : Timestamp or str, optional
        First month to report, to judge a range of months in one call
        (each month still only reads counts up to itself).

    Returns
    -------
    pandas.DataFrame
        One row per signalling series-month, sorted by ``ds, unique_id``:
        ``unique_id, ds, kind`` (``surge`` or ``drop``), ``severity``
        (``watch``, ``warning``, ``critical``), ``observed``, ``expected``
        (trailing level: the mean for a surge, the median for a drop),
        ``lower`` (drop threshold), ``upper`` (the count
        above which the month is a surge), ``ratio`` (observed / max(expected,
        1)), ``recent_high`` (highest count of the previous months tested) and
        ``forecast_upper`` (NaN without forecasts). Empty when nothing
        signals.
    """
    settings = settings or SurgeSettings()
    if as_of is None:
        _check_frame(frame)
        as_of_ts = None if frame.empty else _month(frame["ds"].max())
    else:
        as_of_ts = _month(as_of)
    first = _month(since) if since is not None else as_of_ts
    # Only the rows the windows need are pivoted: a one-month call stays cheap.
    need = max(settings.window, settings.recent_high, 13) + settings.persistence
    if first is not None:
        frame = frame[frame["ds"] >= first - pd.DateOffset(months=need)]
    w = _wide(frame, settings, as_of_ts, forecast_upper, first=first)
    return _signal_frame(w, np.arange(len(w.months)))


def signals(
    frame: pd.DataFrame,
    settings: SurgeSettings | None = None,
    as_of: pd.Timestamp | str | None = None,
    forecast_upper: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Every month's signal of every series up to ``as_of``, in the wide shape.

    Returns a frame indexed by ``ds`` with one column per series holding
    ``""`` or ``"surge:watch"``, ``"drop:critical"`` ... A diagnostic view for
    notebooks and charts; the replay uses the arrays directly.
    """
    settings = settings or SurgeSettings()
    w = _wide(frame, settings, None if as_of is None else _month(as_of), forecast_upper)
    label = np.full(w.kind.shape, "", dtype=object)
    for k, kname in enumerate(KINDS, 1):
        for g, gname in enumerate(SEVERITIES, 1):
            label[(w.kind == k) & (w.grade == g)] = f"{kname}:{gname}"
    return pd.DataFrame(label, index=w.months, columns=w.ids)


# --------------------------------------------------------------------------- episodes


@dataclass(frozen=True)
class _Watch:
    """Where a transit indicator asks for a watch: month x series, with the reasons."""

    on: np.ndarray  # bool, month x series
    reasons: dict[tuple[int, int], str]


def _watch(
    w: _Wide,
    s: SurgeSettings,
    indicators: pd.DataFrame | None,
    lags: Mapping[str, int] | None,
) -> _Watch | None:
    """The months each southwest series gets a transit watch (None when the rule is off).

    A watch needs the series' count and trailing level that month: an
    episode opened without them could not resolve.
    """
    if not s.use_indicators:
        return None
    if indicators is None:
        raise ValueError(
            "settings.use_indicators needs the indicators frame "
            "(forecasting.indicators.indicator_frame); got indicators=None"
        )
    on = np.zeros(w.y.shape, dtype=bool)
    reasons: dict[tuple[int, int], str] = {}
    if w.y.size == 0:
        return _Watch(on, reasons)
    found = transit_watch.jumps(
        indicators, s.indicator_window, s.indicator_ratio, s.indicator_minimum, lags
    )
    rows = w.months.get_indexer(pd.DatetimeIndex(found["ds"]))
    found = found.assign(row=rows)[rows >= 0].sort_values("ratio", ascending=False)
    parts = [str(uid).split(":") for uid in w.ids]
    codes = np.asarray([p[0] for p in parts])
    southwest = np.asarray([len(p) > 1 and p[1] == "southwest" for p in parts])
    seen = ~np.isnan(w.y) & ~np.isnan(w.level)
    for code, part in found.groupby("citizenship", sort=False):
        for i in np.nonzero(southwest & (codes == code))[0]:
            for t, text in zip(part["row"], part["reason"], strict=True):
                if seen[t, i]:
                    on[t, i] = True
                    key = (int(t), int(i))
                    reasons[key] = f"{reasons[key]}; {text}" if key in reasons else text
    return _Watch(on, reasons)


def _run_episodes(
    w: _Wide, s: SurgeSettings, watch: _Watch | None = None
) -> tuple[list[tuple], np.ndarray]:
    """The episode state machine, stepped month by month over all series at once.

    A transit ``watch`` counts as a surge signal of grade ``watch`` in a month
    the U.S. counts give no signal, unless a drop episode is open (an
    indicator never ends a drop). A watch the U.S. counts have not confirmed
    (no U.S. surge signal since it opened) also counts a month toward
    resolution when the count is below the surge ``minimum``: once the
    indicator calms, a watch on a series of 20 a month ends, where the
    trailing level alone would keep it open for years.

    Returns the transitions as tuples ``(month index, series index, action,
    kind, grade)`` in time order, and the month x series "on" matrix (the
    kind of the episode open during that month, 0 for none; the month an
    episode resolves is off).
    """
    n_months, n_series = w.y.shape
    state = np.zeros(n_series, dtype="int8")  # open kind
    peak = np.zeros(n_series, dtype="int8")  # highest grade so far
    calm = np.zeros(n_series, dtype="int16")  # consecutive months toward resolution
    confirmed = np.ones(n_series, dtype=bool)  # the U.S. counts signalled the open episode
    on = np.zeros((n_months, n_series), dtype="int8")
    out: list[tuple] = []
    for t in range(n_months):
        y, level, median = w.y[t], w.level[t], w.median[t]
        kind, grade = w.kind[t], w.grade[t]
        confirmed |= (state == _SURGE) & (kind == _SURGE)
        if watch is not None:
            lift = watch.on[t] & (kind == _NONE) & (state != _DROP)
            kind = np.where(lift, _SURGE, kind).astype("int8")
            grade = np.where(lift, 1, grade).astype("int8")
        seen = ~np.isnan(y) & ~np.isnan(level)
        # Resolution: a month back near the level counts; any other month resets.
        with np.errstate(invalid="ignore"):
            back = (
                np.where(
                    state == _SURGE,
                    (y < s.resolve_ratio * level) | (~confirmed & (y < s.minimum)),
                    np.where(state == _DROP, y >= s.drop_resolve_ratio * median, False),
                )
                & seen
            )
        # A signal of the other kind ends the open episode at once.
        flipped = (state != _NONE) & (kind != _NONE) & (kind != state)
        calm = np.where(back & (kind != state), calm + 1, 0).astype("int16")
        resolve = (state != _NONE) & ((calm >= s.resolve_months) | flipped)
        for i in np.nonzero(resolve)[0]:
            out.append((t, i, "resolve", int(state[i]), int(peak[i])))
        state = np.where(resolve, _NONE, state).astype("int8")
        calm = np.where(resolve, 0, calm).astype("int16")
        # Escalation of an open episode of the same kind.
        escalate = (state != _NONE) & (kind == state) & (grade > peak)
        for i in np.nonzero(escalate)[0]:
            out.append((t, i, "escalate", int(state[i]), int(grade[i])))
        peak = np.where(escalate, grade, peak).astype("int8")
        # Opening.
        opening = (state == _NONE) & (kind != _NONE)
        for i in np.nonzero(opening)[0]:
            out.append((t, i, "open", int(kind[i]), int(grade[i])))
        state = np.where(opening, kind, state).astype("int8")
        peak = np.where(opening, grade, peak).astype("int8")
        confirmed = np.where(opening, w.kind[t] != _NONE, confirmed)
        on[t] = state
    return out, on


def _build_episodes(
    w: _Wide, transitions: list[tuple], watch: _Watch | None = None
) -> list[Episode]:
    """Group transitions into :class:`Episode` objects.

    An opening in a month the U.S. counts gave no signal was a transit
    watch's: it takes the watch's reason.
    """
    current: dict[int, dict[str, Any]] = {}
    done: list[Episode] = []
    ids = w.ids.to_numpy()

    def finish(i: int, resolved: pd.Timestamp | None) -> None:
        e = current.pop(i)
        done.append(
            Episode(
                unique_id=e["unique_id"],
                kind=e["kind"],
                opened=e["opened"],
                severity_at_open=e["severity_at_open"],
                peak_severity=SEVERITIES[e["peak"] - 1],
                peak_observed=e["peak_observed"],
                level_at_open=e["level_at_open"],
                escalated=tuple(e["escalated"]),
                resolved=resolved,
                events=tuple(e["events"]),
                reason=e["reason"],
            )
        )

    for t, i, action, k, g in transitions:
        ds = w.months[t]
        kind = KINDS[k - 1]
        lvl = w.median if k == _DROP else w.level
        reason = None
        if action == "open":
            if watch is not None and w.kind[t, i] == _NONE:
                reason = watch.reasons.get((t, i))
            current[i] = {
                "unique_id": str(ids[i]),
                "kind": kind,
                "opened": ds,
                "t0": t,
                "severity_at_open": SEVERITIES[g - 1],
                "peak": g,
                "level_at_open": float(lvl[t, i]),
                "escalated": [],
                "events": [],
                "reason": reason,
            }
        e = current[i]
        if action == "escalate":
            e["escalated"].append(ds)
            e["peak"] = g
        severity = SEVERITIES[(g if action != "resolve" else e["peak"]) - 1]
        e["events"].append(
            EpisodeEvent(
                unique_id=e["unique_id"],
                kind=kind,
                action=action,
                ds=ds,
                opened=e["opened"],
                severity=severity,
                observed=float(w.y[t, i]),
                expected=float(lvl[t, i]),
                reason=reason,
            )
        )
        if action == "resolve":
            e["t1"] = t
            _set_peak(w, e, t)
            finish(i, ds)
    for i in list(current):
        _set_peak(w, current[i], len(w.months))
        finish(i, None)
    done.sort(key=lambda e: (e.unique_id, e.opened, e.kind))
    return done


def _set_peak(w: _Wide, e: dict[str, Any], t_end: int) -> None:
    """Largest count (smallest for a drop) over the months the episode was open."""
    i = w.ids.get_loc(e["unique_id"])
    span = w.y[e["t0"] : max(t_end, e["t0"] + 1), i]
    pick = np.nanmax if e["kind"] == "surge" else np.nanmin
    e["peak_observed"] = float(pick(span)) if np.isfinite(span).any() else float("nan")


def episodes(
    frame: pd.DataFrame,
    settings: SurgeSettings | None = None,
    as_of: pd.Timestamp | str | None = None,
    forecast_upper: pd.DataFrame | None = None,
    indicators: pd.DataFrame | None = None,
    lags: Mapping[str, int] | None = None,
) -> list[Episode]:
    """Every surge and drop episode of every series, replayed through history to ``as_of``.

    The state machine runs from the first month of ``frame`` and reads counts
    up to ``as_of`` only. It is causal, so replaying to month *M* and then to
    *M + 1* gives the episodes of *M* unchanged, plus only events dated
    *M + 1*: a caller sends the events of the month it runs for
    (:func:`new_events`) and each transition is notified once.

    Parameters
    ----------
    frame : pandas.DataFrame
        ``unique_id, ds, y``; the episodes depend on where it starts, so the
        monthly run must always pass the full history.
    settings : SurgeSettings, optional
        Thresholds; the replay-tuned defaults when omitted.
    as_of : Timestamp or str, optional
        Last month replayed; the newest month of ``frame`` when omitted.
    forecast_upper : pandas.DataFrame, optional
        ``unique_id, ds, upper`` as for :func:`detect`; only raises severities.
    indicators : pandas.DataFrame, optional
        Transit indicators, ``unique_id, ds, y``
        (:func:`forecasting.indicators.indicator_frame`); read only when
        ``settings.use_indicators``, and then required. Months not yet public
        at a month replayed are never read for it (see
        :func:`forecasting.transit_watch.jumps`), so an uncut frame is safe.
    lags : mapping, optional
        Publication lags by indicator source, over the configured ones.

    Returns
    -------
    list of Episode
        Sorted by ``unique_id`` then ``opened``; ``resolved`` is ``None`` for
        episodes still open at ``as_of``.

    Raises
    ------
    ValueError
        When ``settings.use_indicators`` is set and ``indicators`` is not given.
    """
    settings = settings or SurgeSettings()
    w = _wide(frame, settings, None if as_of is None else _month(as_of), forecast_upper)
    watch = _watch(w, settings, indicators, lags)
    transitions, _ = _run_episodes(w, settings, watch)
    return _build_episodes(w, transitions, watch)


def events_frame(found: list[Episode]) -> pd.DataFrame:
    """All events of ``found`` as one long frame sorted by ``ds``: one row per notification."""
    rows = [ev.as_dict() for e in found for ev in e.events]
    columns = [
        "event_id",
        "unique_id",
        "kind",
        "action",
        "ds",
        "opened",
        "severity",
        "observed",
        "expected",
        "reason",
    ]
    if not rows:
        return pd.DataFrame(columns=columns)
    out = pd.DataFrame(rows)[columns]
    return out.sort_values(["ds", "unique_id", "kind", "action"]).reset_index(drop=True)


def new_events(
    frame: pd.DataFrame,
    settings: SurgeSettings | None = None,
    as_of: pd.Timestamp | str | None = None,
    forecast_upper: pd.DataFrame | None = None,
    indicators: pd.DataFrame | None = None,
    lags: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """The events dated ``as_of``: what the monthly run notifies, once each.

    See :func:`episodes`; replaying month by month and sending each month's
    new events sends every transition exactly once.
    """
    _check_frame(frame)
    if as_of is None:
        if frame.empty:
            return events_frame([])
        as_of = frame["ds"].max()
    month = _month(as_of)
    found = episodes(frame, settings, month, forecast_upper, indicators, lags)
    ev = events_frame(found)
    return ev[ev["ds"] == month].reset_index(drop=True)


def on_matrix(
    frame: pd.DataFrame,
    settings: SurgeSettings | None = None,
    as_of: pd.Timestamp | str | None = None,
    forecast_upper: pd.DataFrame | None = None,
    indicators: pd.DataFrame | None = None,
    lags: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Month x series frame of the open episode's kind (``""``, ``"surge"``, ``"drop"``).

    The month an episode resolves is off. Used by the replay to measure how
    much of the time the detector is on.
    """
    settings = settings or SurgeSettings()
    w = _wide(frame, settings, None if as_of is None else _month(as_of), forecast_upper)
    _, on = _run_episodes(w, settings, _watch(w, settings, indicators, lags))
    label = np.asarray(("", *KINDS), dtype=object)[on]
    return pd.DataFrame(label, index=w.months, columns=w.ids)
