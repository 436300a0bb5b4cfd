"""Wider bands for the months after an announced policy change.

The served bands come from two years of backtest errors, drawn as if the
next months were like those. Some months are known not to be: Title 42's
end was announced on 30 January 2023 for 11 May, and the inauguration of
20 January 2025 was known from the election of 6 November 2024. A
forecast made between announcement and change that reaches past the change
erred far more than the rest (encounters fell by almost 90% in the two
months after January 2025, while bands from the two years before covered
66% of an 80% claim, ``bench/served_accuracy.py --recent``).

So a forecast month *crosses* an event when the event is a ``step``,
applies to the series (:meth:`~forecasting.policy.PolicyEvent.applies_to`),
was announced by the end of the origin month, and its first full month in
effect lies after the origin and at or before the forecast month. How much
wider such months' bands are drawn is measured, not set: in the same
backtest that calibrates the bands, the errors of the rows that crossed an
event are divided by the half-width of their unwidened band, and the factor
at level ``L`` is the ``L``-th percentile of those ratios (at least 1), so
that the widened band would have covered ``L``% of them. With fewer than
:data:`MIN_CROSSING_ERRORS` such rows there is nothing to measure, and the
factor is 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from forecasting.policy import PolicyEvent

#: Fewest backtest rows crossing an event for their errors to set a widening.
MIN_CROSSING_ERRORS = 30


def first_full_month(event: PolicyEvent) -> pd.Timestamp:
    """The first month the event is in effect all month (its own, if it starts on the 1st)."""
    start = event.date.to_period("M").to_timestamp()
    return start if event.date == start else start + pd.offsets.MonthBegin(1)


def crossing(
    events: Sequence[PolicyEvent],
    unique_ids: Sequence[str] | np.ndarray,
    origins: Sequence[pd.Timestamp] | np.ndarray,
    months: Sequence[pd.Timestamp] | np.ndarray,
) -> np.ndarray:
    """Whether each row (series, origin month, forecast month) crosses an announced step.

    Rows are given as three aligned sequences; the result is a boolean array
    of their length. Only what was public by the end of the origin month
    counts, so a backtest row flags exactly what a forecast then could have.
    """
    uids = np.asarray(unique_ids, dtype=object)
    origin = pd.DatetimeIndex(origins).to_period("M").to_timestamp()
    month = pd.DatetimeIndex(months).to_period("M").to_timestamp()
    end = origin + pd.offsets.MonthEnd(0)
    out = np.zeros(len(uids), bool)
    for event in events:
        if event.kind != "step":
            continue
        applies = np.array([event.applies_to(str(u)) for u in uids], bool)
        first = first_full_month(event)
        known = np.asarray(event.announced <= end)
        out |= applies & known & np.asarray(origin < first) & np.asarray(first <= month)
    return out


@dataclass(frozen=True)
class Shocks:
    """The widening of bands over months that cross an announced step, per level and size class.

    ``factor[level][k]`` multiplies the band's offsets from the forecast for
    a series of size class ``k`` (:func:`~forecasting.intervals.size_class`):
    the errors of a series at a handful of encounters say nothing of how far
    Mexico's moved past Title 42's end. ``n_errors[k]`` is how many backtest
    rows crossing an event measured class ``k``'s factor.
    """

    events: tuple[PolicyEvent, ...]
    factor: dict[int, tuple[float, ...]] = field(default_factory=dict)
    n_errors: tuple[int, ...] = ()

    def level_factor(self, level: int, k: int) -> float:
        """Class ``k``'s factor at ``level``, or at the nearest measured level (90%, say)."""
        if not self.factor:
            return 1.0
        return self.factor[min(self.factor, key=lambda lv: (abs(lv - level), lv))][k]

    def widening(
        self, unique_id: str, k: int, origin: pd.Timestamp, months: pd.DatetimeIndex, level: int
    ) -> np.ndarray:
        """Each forecast month's factor: :meth:`level_factor` where it crosses an event, else 1."""
        hit = crossing(self.events, [unique_id] * len(months), [origin] * len(months), months)
        return np.where(hit, self.level_factor(level, k), 1.0)

    def describe(
        self, unique_id: str, k: int, origin: pd.Timestamp, months: pd.DatetimeIndex
    ) -> dict[str, Any]:
        """What a forecast's metadata says of it: the events crossed, from when, by how much."""
        crossed = []
        for event in self.events:
            hit = crossing([event], [unique_id] * len(months), [origin] * len(months), months)
            if hit.any():
                crossed.append(
                    {
                        "id": event.id,
                        "announced": f"{event.announced:%Y-%m-%d}",
                        "widened_from": f"{months[hit.argmax()]:%Y-%m}",
                    }
                )
        factor = {str(lv): f[k] for lv, f in self.factor.items()}
        return {"factor": factor, "n_errors": self.n_errors[k], "events": crossed}


def measure(
    events: Sequence[PolicyEvent],
    ratios: Mapping[int, np.ndarray],
    crossed: np.ndarray,
    size: np.ndarray,
    n_classes: int,
) -> Shocks:
    """The widening per level and size class from backtest rows' |error| / unwidened offset.

    ``ratios[level]`` holds every row's ratio at that level, ``crossed``
    which rows cross an event (:func:`crossing`), ``size`` each row's size
    class. A class with fewer than :data:`MIN_CROSSING_ERRORS` crossing rows
    takes the factor of all classes together.
    """
    factor: dict[int, tuple[float, ...]] = {}
    counts = tuple(int((crossed & (size == k)).sum()) for k in range(n_classes))
    for level, r in ratios.items():
        r = np.asarray(r, float)
        pooled = _factor(r[crossed], level)
        factor[level] = tuple(
            _factor(r[crossed & (size == k)], level) if counts[k] >= MIN_CROSSING_ERRORS else pooled
            for k in range(n_classes)
        )
    steps = tuple(e for e in events if e.kind == "step")
    return Shocks(steps, factor, counts)


def _factor(ratios: np.ndarray, level: int) -> float:
    """The ``level``-th percentile of the finite ratios, at least 1; 1 with too few of them."""
    finite = ratios[np.isfinite(ratios)]
    if len(finite) < MIN_CROSSING_ERRORS:
        return 1.0
    return round(max(1.0, float(np.quantile(finite, level / 100))), 4)
