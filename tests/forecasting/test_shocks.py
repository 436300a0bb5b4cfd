"""Which forecast months cross an announced policy change, on the bundled calendar."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting import models as m
from forecasting.intervals import Calibration, SizedCalibration
from forecasting.policy import load_events
from forecasting.shocks import MIN_CROSSING_ERRORS, Shocks, crossing, first_full_month, measure
from forecasting.training import policy_path

CALENDAR = load_events(policy_path())
EVENTS = {e.id: e for e in CALENDAR}


def crosses(uid: str, origin: str, month: str, events: list[str] | None = None) -> bool:
    calendar = CALENDAR if events is None else [EVENTS[e] for e in events]
    return bool(crossing(calendar, [uid], [pd.Timestamp(origin)], [pd.Timestamp(month)])[0])


def test_the_2025_inauguration_is_crossed_once_announced_and_before_it_took_hold() -> None:
    """Announced 6 Nov 2024, in effect from 20 Jan 2025: its first full month is February."""
    assert first_full_month(EVENTS["administration-2025"]) == pd.Timestamp("2025-02-01")
    mx = "MX:southwest:usbp"
    assert not crosses(mx, "2024-10", "2025-03")  # the election had not been held
    assert crosses(mx, "2024-11", "2025-02")
    assert not crosses(mx, "2024-11", "2025-01")  # before it took hold all month
    assert crosses(mx, "2025-01", "2025-04")
    assert not crosses(mx, "2025-02", "2025-04")  # after it: the data show it


def test_an_event_crosses_only_the_series_it_applies_to() -> None:
    """Ecuador's visa rule for Chinese nationals (1 Jul 2024, announced 18 Jun) and Title 42."""
    assert first_full_month(EVENTS["ecuador-visa-china"]) == pd.Timestamp("2024-07-01")
    visa = ["ecuador-visa-china"]
    assert crosses("CN:southwest:usbp", "2024-06", "2024-07", visa)
    assert crosses("ALL:southwest:usbp", "2024-06", "2024-07", visa)
    assert not crosses("MX:southwest:usbp", "2024-06", "2024-07", visa)
    # the asylum restrictions of 5 Jun 2024 (announced the day before) are the southwest's
    assert crosses("MX:southwest:usbp", "2024-06", "2024-07")
    assert not crosses("MX:northern:usbp", "2024-06", "2024-07")
    # the rush before Title 42's end is a pulse: May 2023 is not crossed, June (its end) is
    assert not crosses("MX:southwest:usbp", "2023-03", "2023-05")
    assert crosses("MX:southwest:usbp", "2023-03", "2023-06")


def test_the_widening_is_the_crossing_rows_error_ratio_at_the_level_per_class() -> None:
    rng = np.random.default_rng(7)
    ratios = {80: rng.gamma(2.0, 1.0, 400), 95: rng.gamma(2.0, 1.5, 400)}
    size = np.repeat([0, 1], 200)
    crossed = np.zeros(400, bool)
    crossed[150:250] = True  # 50 of class 0, 50 of class 1
    shocks = measure(CALENDAR, ratios, crossed, size, 2)
    assert shocks.n_errors == (50, 50)
    for level in (80, 95):
        for k, rows in enumerate((slice(150, 200), slice(200, 250))):
            expected = np.quantile(ratios[level][rows], level / 100)
            assert shocks.factor[level][k] == pytest.approx(expected, abs=1e-4)
    assert all(e.kind == "step" for e in shocks.events)
    # a class with too few crossing rows takes all classes' factor
    few = crossed & ~((size == 1) & (np.arange(400) >= 200 + MIN_CROSSING_ERRORS - 1))
    short = measure(CALENDAR, ratios, few, size, 2)
    assert short.n_errors == (50, MIN_CROSSING_ERRORS - 1)
    pooled = np.quantile(ratios[80][few], 0.80)
    assert short.factor[80][1] == pytest.approx(pooled, abs=1e-4)
    # too few rows anywhere, or errors inside the band: no widening
    assert measure(CALENDAR, ratios, np.zeros(400, bool), size, 2).factor[80] == (1.0, 1.0)
    inside = measure(CALENDAR, {80: np.full(400, 0.4)}, crossed, size, 2)
    assert inside.factor == {80: (1.0, 1.0)}
    # a band at a level not measured takes the nearest level's factor
    assert shocks.level_factor(90, 1) == shocks.factor[95][1]
    assert shocks.level_factor(50, 0) == shocks.factor[80][0]


def test_a_forecast_across_the_inauguration_is_wider_from_february(workbook_frame) -> None:  # type: ignore[no-untyped-def]
    """Mexico as of November 2024 (the workbook's last month): bands widen from 2025-02 on."""
    history = workbook_frame[workbook_frame["unique_id"] == "MX:southwest:usbp"]
    table = Calibration.random_walk(np.log1p(history["y"].to_numpy()), (80, 95))
    factor = {80: (1.0, 2.0), 95: (1.0, 1.5)}  # Mexico is of the second class (1 and more)
    shocks = Shocks(tuple(e for e in CALENDAR if e.kind == "step"), factor, (0, 90))
    plain = SizedCalibration((1,), [table, table])
    widened = SizedCalibration((1,), [table, table], shocks)
    before = m.RandomWalk(calibration=plain).fit(history).predict(6)
    after = m.RandomWalk(calibration=widened).fit(history).predict(6)
    assert after["ds"].dt.strftime("%Y-%m").tolist()[2] == "2025-02"
    same, wide = slice(0, 2), slice(2, 6)
    for level, factor in ((80, 2.0), (95, 1.5)):
        for side in ("lo", "hi"):
            col = f"{side}-{level}"
            assert after[col].iloc[same].tolist() == before[col].iloc[same].tolist()
        z = np.log1p(before["mean"].to_numpy()[wide])
        offset = np.log1p(before[f"hi-{level}"].to_numpy()[wide]) - z
        widened_offset = np.log1p(after[f"hi-{level}"].to_numpy()[wide]) - z
        # the bounds are snapped to the reporting grid, so the ratio is close, not exact
        assert widened_offset / offset == pytest.approx(factor, rel=0.02)
    # a history without its series' id cannot tell which events apply: no widening
    anonymous = history[["ds", "y"]]
    assert m.RandomWalk(calibration=widened).fit(anonymous).predict(6).equals(before)
    info = shocks.describe("MX:southwest:usbp", 1, history["ds"].max(), after["ds"])
    assert info == {
        "factor": {"80": 2.0, "95": 1.5},
        "n_errors": 90,
        "events": [
            {"id": "administration-2025", "announced": "2024-11-06", "widened_from": "2025-02"}
        ],
    }
