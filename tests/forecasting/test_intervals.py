"""Served intervals on the OHSS history: the band of a large series must cover what it claims.

The store holds hundreds of citizenships at a handful of encounters. Their
backtest errors, mostly an exact zero, once set every series' band: the
80% band of the 20 largest southwest series covered 28% of the next months.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting import models as m
from forecasting.backtest import cross_validate, summarize
from forecasting.intervals import (
    SIZE_EDGES,
    Calibration,
    SizedCalibration,
    pooled_calibration,
    series_scale,
    served_bands,
)
from forecasting.readers import read
from forecasting.training import CHOICE_MIN_COUNT, choose, outcome
from tests.conftest import WORKBOOK

pytestmark = pytest.mark.slow

#: Backtest origins: quarterly, so that each test origin has two years of them behind it.
ORIGINS = pd.date_range("2016-07-01", "2023-07-01", freq="3MS")
#: The origins whose served bands are scored, each calibrated on the eight before it.
SCORED = pd.date_range("2019-01-01", "2023-01-01", freq="6MS")


@pytest.fixture(scope="module")
def workbook() -> pd.DataFrame:
    """Every series of the workbook (261), long."""
    counts = read(WORKBOOK.name, WORKBOOK.read_bytes()).counts
    uid = counts["citizenship"] + ":" + counts["region"] + ":" + counts["component"]
    frame = pd.DataFrame({"unique_id": uid, "ds": counts["month"], "y": counts["count"] * 1.0})
    return frame.sort_values(["unique_id", "ds"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def workbook_cv(workbook) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    """The random walk's backtest over every series of the workbook, 2016-2023."""
    return cross_validate(workbook, {"rw": lambda u, c: m.RandomWalk()}, ORIGINS, 6, n_jobs=2)


def largest(cv: pd.DataFrame, n: int = 20) -> list[str]:
    uid = cv["unique_id"]
    sw = cv[uid.str.endswith(":southwest:usbp") & ~uid.str.startswith("ALL:")]
    return sw.groupby("unique_id")["y"].sum().nlargest(n).index.tolist()


def coverage(cv: pd.DataFrame, calibrate, ids: list[str], snap=None, at=None) -> dict[int, float]:  # type: ignore[no-untyped-def]
    """Share of the next six months inside the bands served at each scored origin.

    ``snap(lower, upper, mean)`` puts the bounds on the reporting grid, as
    served; ``at=(low, high)`` scores only series whose count at the origin
    is within it.
    """
    hits: dict[int, list[bool]] = {80: [], 95: []}
    for origin in SCORED:
        cal = calibrate(known_before(cv, origin))
        now = cv[(cv["cutoff"] == origin) & cv["unique_id"].isin(ids)].sort_values("h")
        if at is not None:
            now = now[now["y_cutoff"].between(*at)]
        for _, rows in now.groupby("unique_id"):
            assert rows["h"].tolist() == [1, 2, 3, 4, 5, 6]
            table = cal.pick(np.log1p(rows["y_cutoff"].to_numpy()))
            z_hat = np.log1p(rows["mean"].to_numpy())
            bounds = table.bounds(z_hat, float(rows["scale"].iloc[0]), (80, 95))
            for level, (lo, hi) in bounds.items():
                y = rows["y"].to_numpy()
                lo, hi = np.expm1(lo), np.expm1(hi)
                if snap is not None:
                    lo, hi = snap(lo, hi, rows["mean"].to_numpy())
                hits[level].extend((lo <= y) & (y <= hi))
    return {level: float(np.mean(h)) for level, h in hits.items()}


def known_before(cv: pd.DataFrame, origin: pd.Timestamp) -> pd.DataFrame:
    """The backtest rows of the two years before ``origin`` whose six months had passed."""
    before = cv[(cv["cutoff"] <= origin - pd.DateOffset(months=6))]
    return before[before["cutoff"] > origin - pd.DateOffset(months=30)]


def test_the_largest_series_bands_cover_about_what_they_claim(workbook_cv) -> None:  # type: ignore[no-untyped-def]
    """Size classes, both signs and the widening: 80% bands cover 70-90%, 95% ones 85-99%.

    Nine origins of 20 series (1,080 targets); the one-table calibration
    pooled over every series covered far less on the same targets.
    """
    ids = largest(workbook_cv)
    served = coverage(workbook_cv, lambda b: pooled_calibration(b, "rw"), ids)
    assert 0.70 <= served[80] <= 0.90, served
    assert 0.85 <= served[95] <= 0.99, served

    def one_table(before: pd.DataFrame) -> Calibration:
        err = (np.log1p(before["y"]) - np.log1p(before["mean"])) / before["scale"]
        return Calibration.from_errors(err.to_numpy(), before["h"].to_numpy(), (80, 95), 6)

    pooled = coverage(workbook_cv, one_table, ids)
    assert pooled[80] < served[80] - 0.2, (pooled, served)


def test_bands_on_the_grid_of_ten_cover_what_they_claim_at_10_to_99(workbook, workbook_cv) -> None:  # type: ignore[no-untyped-def]
    """Bounds rounded to the nearest 10 added half a step each side: 80% bands covered 92%."""
    at_origin = workbook_cv[workbook_cv["cutoff"].isin(SCORED)]
    ids = at_origin.loc[at_origin["y_cutoff"].between(10, 99), "unique_id"].unique().tolist()
    assert len(ids) > 50
    cal = lambda cv: pooled_calibration(cv, "rw")  # noqa: E731
    served = coverage(workbook_cv, cal, ids, inward, at=(10, 99))
    nearest = coverage(workbook_cv, cal, ids, rounded, at=(10, 99))
    assert 0.75 <= served[80] <= 0.86 and 0.90 <= served[95] <= 0.97, served
    assert nearest[80] > 0.88 and nearest[95] > 0.97, nearest
    # and those bands are what the service draws: a calibrated random walk's, as predicted
    origin = SCORED[-1]
    cal_now = pooled_calibration(known_before(workbook_cv, origin), "rw")
    at = workbook_cv[(workbook_cv["cutoff"] == origin) & workbook_cv["y_cutoff"].between(10, 99)]
    for uid in sorted(at["unique_id"].unique())[:12]:
        history = workbook[(workbook["unique_id"] == uid) & (workbook["ds"] <= origin)]
        out = m.RandomWalk(calibration=cal_now).fit(history).predict(6)
        z = np.log1p(history["y"].to_numpy())
        table = cal_now.pick(z)
        for level, (lo, hi) in table.bounds(np.full(6, z[-1]), series_scale(z), (80, 95)).items():
            lo, hi = inward(np.expm1(lo), np.expm1(hi), out["mean"].to_numpy())
            assert np.array_equal(out[f"lo-{level}"], lo) and np.array_equal(out[f"hi-{level}"], hi)


def inward(lo: np.ndarray, hi: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return m.band_on_grid(lo, hi, mean, 10)


def rounded(lo: np.ndarray, hi: np.ndarray, mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return np.minimum(m.on_grid(lo, 10), mean), np.maximum(m.on_grid(hi, 10), mean)


def test_a_series_gets_the_band_of_its_size_class(workbook_cv) -> None:  # type: ignore[no-untyped-def]
    cal = pooled_calibration(workbook_cv, "rw")
    assert isinstance(cal, SizedCalibration) and cal.edges == SIZE_EDGES
    picked = [cal.pick(np.log1p([count])) for count in (0, 1, 9, 10, 999, 1000, 50_000)]
    assert [next(i for i, c in enumerate(cal.classes) if c is p) for p in picked] == [
        0,
        1,
        1,
        2,
        3,
        4,
        4,
    ]
    # the classes' bands differ: each comes from its own series' errors
    small, large = cal.classes[2].q[80], cal.classes[4].q[80]
    assert not np.allclose(small, large)
    # both signs of every error enter, so the bands are symmetric around the forecast
    assert np.allclose(large[:, 0], -large[:, 1])


def test_tiny_series_do_not_vote_on_the_served_model(workbook_cv) -> None:  # type: ignore[no-untyped-def]
    """A model perfect on series under 10 encounters and 50% off on the rest is not served."""
    last = workbook_cv[workbook_cv["cutoff"] == workbook_cv["cutoff"].max()]
    tiny = set(last.loc[last["y_cutoff"] < 10, "unique_id"])
    other = workbook_cv.copy()
    other["model"] = "other"
    small = other["unique_id"].isin(tiny)
    other.loc[small, "mean"] = other.loc[small, "y"]
    other.loc[~small, "mean"] = other.loc[~small, "mean"] * 1.5
    both = pd.concat([workbook_cv, other], ignore_index=True)
    assert 100 < len(tiny) < both["unique_id"].nunique() - 20  # most series, not all
    assert choose(both, min_count=0) == "other"  # every series voting: the tiny ones win
    assert choose(both) == "rw"


def test_backtest_bands_are_the_served_ones_as_of_each_origin(workbook_cv) -> None:  # type: ignore[no-untyped-def]
    """No band of the published backtest sees an error whose month came after its origin."""
    banded = served_bands(workbook_cv)
    first, origin = ORIGINS[0], ORIGINS[12]
    assert banded.loc[banded["cutoff"] == first, "lo-80"].isna().all()
    assert banded.loc[banded["cutoff"] > first, "lo-80"].notna().all()
    # what the service would have drawn at ``origin`` for Mexico, from the errors known then
    known = workbook_cv[workbook_cv["ds"] <= origin]
    rows = banded[(banded["cutoff"] == origin) & (banded["unique_id"] == "MX:southwest:usbp")]
    rows = rows.sort_values("h")
    table = pooled_calibration(known, "rw").pick(np.log1p(rows["y_cutoff"].to_numpy()))
    z_hat = np.log1p(rows["mean"].to_numpy())
    lo, hi = table.bounds(z_hat, float(rows["scale"].iloc[0]), (80,))[80]
    assert np.allclose(rows["lo-80"], np.expm1(lo)) and np.allclose(rows["hi-80"], np.expm1(hi))
    # a later month changed leaves the bands at ``origin`` as they were
    later = workbook_cv.copy()
    later.loc[later["ds"] > origin, "y"] *= 3
    again = served_bands(later)
    at = banded["cutoff"] <= origin
    assert np.allclose(banded.loc[at, "hi-95"], again.loc[at, "hi-95"], equal_nan=True)
    # where an early cutoff's errors reach fewer horizons, farther ones widen as served
    second = ORIGINS[1]
    rows = banded[(banded["cutoff"] == second) & (banded["unique_id"] == "MX:southwest:usbp")]
    rows = rows.sort_values("h")
    known = workbook_cv[workbook_cv["ds"] <= second]
    cal = pooled_calibration(known, "rw").pick(np.log1p(rows["y_cutoff"].to_numpy()))
    assert cal.max_h < 6
    lo, hi = cal.bounds(np.log1p(rows["mean"].to_numpy()), float(rows["scale"].iloc[0]), (95,))[95]
    assert np.allclose(rows["hi-95"], np.expm1(hi)) and np.allclose(rows["lo-95"], np.expm1(lo))
    # and coverage skips the first origin rather than counting it as missed
    inside = (banded["y"] >= banded["lo-80"]) & (banded["y"] <= banded["hi-80"])
    scored = banded["model"].eq("rw") & banded["cutoff"].gt(first)
    assert summarize(banded).loc["rw", "cov-80"] == pytest.approx(inside[scored].mean())


def test_a_plan_publishes_the_served_bands_over_the_series_that_chose(workbook_cv) -> None:  # type: ignore[no-untyped-def]
    """A training publishes the figures of the bands it serves, on the series that vote."""
    published = outcome(workbook_cv)
    assert published.chosen == "rw" and isinstance(published.calibration, SizedCalibration)
    at_last = workbook_cv[workbook_cv["cutoff"] == ORIGINS[-1]]
    last = at_last.groupby("unique_id")["y_cutoff"].first()
    large = set(last[last >= CHOICE_MIN_COUNT].index)
    assert 0 < len(large) < workbook_cv["unique_id"].nunique() / 2  # most series are tiny
    bands = served_bands(workbook_cv)
    scored = bands[bands["unique_id"].isin(large) & bands["lo-80"].notna()]
    inside = (scored["lo-80"] <= scored["y"]) & (scored["y"] <= scored["hi-80"])
    assert published.summary["rw"]["cov-80"] == pytest.approx(inside.mean(), abs=5e-5)
    # neither the model's own bands nor every series' would give that figure
    assert abs(summarize(workbook_cv).loc["rw", "cov-80"] - inside.mean()) > 0.03
    everyone = bands[bands["lo-80"].notna()]
    everyone_inside = (everyone["lo-80"] <= everyone["y"]) & (everyone["y"] <= everyone["hi-80"])
    assert abs(everyone_inside.mean() - inside.mean()) > 0.02
    # each series' published figures are of the served bands too
    mexico = bands[(bands["unique_id"] == "MX:southwest:usbp") & bands["lo-95"].notna()]
    hits = (mexico["lo-95"] <= mexico["y"]) & (mexico["y"] <= mexico["hi-95"])
    mx = published.metrics["MX:southwest:usbp"]["rw"]["all"]
    assert mx["cov-95"] == pytest.approx(hits.mean(), abs=5e-5)
