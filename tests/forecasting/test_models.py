"""Models: the interface, anchoring after breaks, sparse and stopped series, no look-ahead."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting import models as m
from forecasting.backtest import cross_validate, summarize
from forecasting.errors import ConfigError, NotFitted, UnknownSeries
from forecasting.intervals import calibrate_cv
from forecasting.policy import load_events

ROOT = Path(__file__).resolve().parents[2]
WORKBOOK = "ohss-khsm-usbp-encounters-fy2000-fy2025.xlsx"
COLUMNS = ["ds", "mean", "lo-80", "hi-80", "lo-95", "hi-95"]


def series(values, start="2015-01-01", uid="CN:southwest:usbp") -> pd.DataFrame:
    ds = pd.date_range(start, periods=len(values), freq="MS")
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": np.asarray(values, float)})


def noisy(n: int, level: float, seed: int, sd: float = 0.15) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.round(level * np.exp(np.cumsum(rng.normal(0, sd, n)) * 0.3) / 10) * 10


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    """Twelve synthetic series, enough for the global model, one with a Jan-2025-like break."""
    parts = [series(noisy(120, 2000 * (i + 1), i), uid=f"C{i}:southwest:usbp") for i in range(12)]
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def workbook_frame() -> pd.DataFrame:
    from forecasting.readers import read

    for path in (ROOT / "data" / WORKBOOK, ROOT.parent / "shared" / "data" / WORKBOOK):
        if path.exists():
            counts = read(path.name, path.read_bytes()).counts
            uid = counts["citizenship"] + ":" + counts["region"] + ":" + counts["component"]
            frame = pd.DataFrame({"unique_id": uid, "ds": counts["month"], "y": counts["count"]})
            return frame.astype({"y": float}).sort_values(["unique_id", "ds"])
    pytest.skip("bundled workbook not found")


def test_config_is_checked_at_once_and_predict_needs_fit() -> None:
    with pytest.raises(ConfigError, match="season must be a positive integer"):
        m.SeasonalNaive(season=0)
    with pytest.raises(ConfigError, match="kind must be 'theta', 'ets' or 'arima'"):
        m.StatsForecastModel("prophet")
    with pytest.raises(ConfigError, match="how must be 'median' or 'mean'"):
        m.Anchored({"rw": m.RandomWalk()}, how="mode")
    with pytest.raises(NotFitted):
        m.RandomWalk().predict(3)


@pytest.mark.parametrize(
    "model",
    [
        m.RandomWalk(),
        m.SeasonalNaive(),
        m.SparseMedian(),
        m.StatsForecastModel("theta"),
        m.StatsForecastModel("arima"),
    ],
)
def test_predict_shape_and_ordered_intervals(model: m.LogModel) -> None:
    hist = series(noisy(60, 500, 1))
    out = model.fit(hist).predict(12)
    assert list(out.columns) == COLUMNS
    assert out["ds"].iloc[0] == pd.Timestamp("2020-01-01") and len(out) == 12
    assert (out["lo-95"] <= out["lo-80"]).all() and (out["lo-80"] <= out["mean"]).all()
    assert (out["mean"] <= out["hi-80"]).all() and (out["hi-80"] <= out["hi-95"]).all()
    assert (out["lo-95"] >= 0).all()


def test_arima_forecasts_autoarimas_log1p_forecast_not_another_kinds_cached_fit() -> None:
    from statsforecast.models import AutoARIMA

    hist = series(noisy(60, 500, 3))
    z = np.log1p(hist["y"].to_numpy())
    ets = m.StatsForecastModel("ets").fit(hist)  # fills the fit cache for this window first
    arima = m.StatsForecastModel("arima").fit(hist)
    own = AutoARIMA(season_length=12).forecast(y=z, h=24)["mean"]
    out = arima.predict(6)
    assert out["mean"].to_numpy() == pytest.approx(np.expm1(np.maximum(own[:6], 0)))
    assert not np.allclose(arima.mean_, ets.mean_)


def test_random_walk_carries_the_last_value() -> None:
    out = m.RandomWalk().fit(series([5, 7, 1234])).predict(3)
    assert out["mean"].tolist() == pytest.approx([1234] * 3)


def test_forecast_after_an_abrupt_break_stays_near_the_new_level(panel: pd.DataFrame) -> None:
    # ten years near 20,000 a month, then a fall of almost 90% in two months
    values = np.r_[noisy(118, 20000, 7, sd=0.05), 9000, 2300]
    broken = series(values, uid="C0:southwest:usbp")
    frame = pd.concat([panel[panel["unique_id"] != "C0:southwest:usbp"], broken])
    gm = m.GlobalRidge(max_h=6).fit(frame)
    fc = m.forecast_series(frame, "C0:southwest:usbp", h=6, global_model=gm)
    assert fc.status == "ok"
    assert 1500 <= fc.forecast["mean"].iloc[0] <= 3500
    assert fc.forecast["mean"].max() < 6000  # not waiting for the old level to come back


def test_sparse_series_get_the_simple_model() -> None:
    values = np.zeros(60)
    values[[10, 30, 55]] = 10
    fc = m.forecast_series(series(values), "CN:southwest:usbp", h=6)
    assert fc.status == "sparse" and fc.model == "sparse"
    assert (fc.forecast["mean"] == 0).all() and (fc.forecast["hi-95"] >= 0).all()


def test_series_that_stopped_reporting_is_not_forecast_as_zero(panel: pd.DataFrame) -> None:
    gone = series(noisy(100, 800, 3), uid="ZZ:southwest:usbp")
    frame = pd.concat([panel, gone])
    fc = m.forecast_series(frame, "ZZ:southwest:usbp", h=6)
    assert fc.status == "stopped" and fc.forecast is None
    assert "not forecast: stopped reporting after 2023-04" in fc.message
    with pytest.raises(UnknownSeries):
        m.forecast_series(frame, "XX:southwest:usbp")


def test_as_of_forecast_ignores_data_appended_later(panel: pd.DataFrame) -> None:
    gm = m.GlobalRidge(max_h=6).fit(panel[panel["ds"] <= "2019-06-01"])
    early = panel[panel["ds"] <= "2019-06-01"]
    before = m.forecast_series(early, "C3:southwest:usbp", 6, as_of="2019-06", global_model=gm)
    after = m.forecast_series(panel, "C3:southwest:usbp", 6, as_of="2019-06", global_model=gm)
    pd.testing.assert_frame_equal(before.forecast, after.forecast)
    assert before.as_of == pd.Timestamp("2019-06-01")
    # a global model trained past the origin is left out rather than leaking the future
    late = m.GlobalRidge(max_h=6).fit(panel)
    with_late = m.forecast_series(panel, "C3:southwest:usbp", 6, as_of="2019-06", global_model=late)
    alone = m.forecast_series(panel, "C3:southwest:usbp", 6, as_of="2019-06")
    pd.testing.assert_frame_equal(with_late.forecast, alone.forecast)


def test_global_model_and_combination_pickle(panel: pd.DataFrame) -> None:
    gm = m.GlobalRidge(max_h=3).fit(panel)
    model = m.Bordercast(gm).fit(panel[panel["unique_id"] == "C1:southwest:usbp"])
    again = pickle.loads(pickle.dumps(model))
    pd.testing.assert_frame_equal(model.predict(3), again.predict(3))


def test_a_saved_model_keeps_its_changes_not_the_boosted_trees(workbook_frame) -> None:
    gm = m.GlobalBoosted(max_h=6).fit(workbook_frame)
    history = workbook_frame[workbook_frame["unique_id"] == "CN:southwest:usbp"]
    model = m.Bordercast(gm).fit(history)
    saved = pickle.dumps(model)
    assert len(saved) < 200_000 < len(pickle.dumps(gm))  # the trees: megabytes
    again = pickle.loads(saved)
    assert again.global_model is None and again.chosen_.fitted_["global"].model is None
    pd.testing.assert_frame_equal(model.predict(6), again.predict(6))
    # horizons past the global model's own repeat its last change
    assert (
        again.chosen_.fitted_["global"].delta(8)[6:].tolist()
        == [gm.delta(np.log1p(history["y"].to_numpy()), pd.DatetimeIndex(history["ds"]), 6)[-1]] * 2
    )


def test_boosted_global_model_refits_to_the_same_forecasts(workbook_frame) -> None:
    cut = workbook_frame[workbook_frame["ds"] <= "2023-06-01"]
    history = cut[cut["unique_id"] == "IN:southwest:usbp"]
    z, ds = np.log1p(history["y"].to_numpy()), pd.DatetimeIndex(history["ds"])
    first = m.GlobalBoosted(max_h=3).fit(cut).delta(z, ds, 3)
    second = m.GlobalBoosted(max_h=3).fit(cut).delta(z, ds, 3)
    assert first.tolist() == second.tolist() and np.abs(first).max() > 0.01


def _child_delta(member: m.GlobalMember, history: pd.DataFrame, queue) -> None:
    queue.put(member.fit(history).delta(3).tolist())


def test_boosted_global_model_predicts_in_a_forked_worker(workbook_frame) -> None:
    # training forks its workers after the parent has fitted and used the trees;
    # a thread pool left behind in the parent would hang them
    import multiprocessing

    cut = workbook_frame[workbook_frame["ds"] <= "2020-01-01"]
    history = cut[cut["unique_id"] == "CN:southwest:usbp"]
    gm = m.GlobalBoosted(max_h=3).fit(cut)
    here = m.GlobalMember(gm).fit(history).delta(3).tolist()
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=_child_delta, args=(m.GlobalMember(gm), history, queue))
    child.start()
    child.join(120)
    if child.is_alive():
        child.kill()
        pytest.fail("the forked worker hung predicting with the boosted trees")
    assert queue.get(timeout=5) == here


def test_forecasts_of_counts_rounded_to_ten_stay_on_that_grid(workbook_frame) -> None:
    # OHSS reports every count rounded to the nearest 10; CBP reports exact counts
    history = workbook_frame[workbook_frame["unique_id"] == "EC:southwest:usbp"]
    assert m.reporting_unit(history["y"].to_numpy()) == 10
    assert m.reporting_unit(np.array([0, 399, 430, 534, 950.0])) == 1
    assert m.reporting_unit(np.array([0, 0, 10, 20.0])) == 1  # too little to tell
    out = m.StatsForecastModel("theta").fit(history).predict(6)
    assert (out[COLUMNS[1:]].to_numpy() % 10 == 0).all()
    loose = m.StatsForecastModel("theta")
    loose.snap = False
    raw = loose.fit(history).predict(6)
    assert (raw["mean"] % 10 != 0).any()
    assert (out["mean"] - raw["mean"]).abs().max() <= 5
    assert (out["lo-95"] <= out["mean"]).all() and (out["mean"] <= out["hi-95"]).all()


def test_bands_on_the_grid_hold_exactly_the_counts_inside_the_unrounded_band(
    workbook_frame,
) -> None:  # type: ignore[no-untyped-def]
    history = workbook_frame[workbook_frame["unique_id"] == "DO:southwest:usbp"]
    history = history[history["ds"] <= "2016-06-01"]  # the Dominican Republic at 50 a month
    snapped = m.StatsForecastModel("theta").fit(history).predict(6)
    loose = m.StatsForecastModel("theta")
    loose.snap = False
    raw = loose.fit(history).predict(6)
    grid = np.arange(0, 1000, 10.0)[:, None]
    mean = snapped["mean"].to_numpy()
    widened = False
    for level in (80, 95):
        lo, hi = raw[f"lo-{level}"].to_numpy(), raw[f"hi-{level}"].to_numpy()
        inside = (grid >= snapped[f"lo-{level}"].to_numpy()) & (
            grid <= snapped[f"hi-{level}"].to_numpy()
        )
        # the counts inside the unrounded band, plus the forecast where the band is under a step
        assert (inside == (((grid >= lo) & (grid <= hi)) | (grid == mean))).all(), level
        # rounding each bound to the nearest step would have taken in more counts
        widened |= bool((m.on_grid(lo, 10) < snapped[f"lo-{level}"]).any())
        widened |= bool((m.on_grid(hi, 10) > snapped[f"hi-{level}"]).any())
    assert widened


def test_band_on_grid_does_not_cross_the_forecast_or_drift_on_float_noise() -> None:
    lo, hi = m.band_on_grid(
        np.array([np.expm1(np.log1p(20.0)) + 1e-12, 33.0, 0.0]),
        np.array([np.expm1(np.log1p(40.0)) - 1e-12, 34.0, 4.6]),
        np.array([30.0, 30, 0]),
        10,
    )
    assert lo.tolist() == [20.0, 30.0, 0.0]  # 33 rounds up past the forecast: held at 30
    assert hi.tolist() == [40.0, 30.0, 0.0]
    lo, hi = m.band_on_grid(np.array([2.4]), np.array([7.8]), np.array([5.0]), 1)
    assert (lo.tolist(), hi.tolist()) == ([3.0], [7.0])
    lo, hi = m.band_on_grid(
        np.array([-0.4, np.nan]), np.array([8.0, 12.0]), np.array([0.0, 10]), 10
    )
    assert lo[0] == 0 and np.isnan(lo[1]) and hi.tolist() == [0.0, 10.0]


def test_empirical_intervals_cover_what_they_claim_on_real_series(workbook_frame) -> None:
    ids = ["MX:southwest:usbp", "GT:southwest:usbp", "HN:southwest:usbp", "SV:southwest:usbp"]
    sub = workbook_frame[workbook_frame["unique_id"].isin(ids)]
    origins = pd.date_range("2006-01-01", "2024-05-01", freq="2MS")
    cv = cross_validate(sub, {"rw": lambda u, c: m.RandomWalk()}, origins, 6)
    cv = calibrate_cv(cv)
    scored = cv[cv["cutoff"] >= "2014-01-01"]
    cov = summarize(scored)
    assert 0.72 <= cov.loc["rw", "cov-80"] <= 0.88
    assert 0.88 <= cov.loc["rw", "cov-95"] <= 0.98


@pytest.mark.slow
def test_prophet_member_uses_known_events_and_pickles_without_stan(workbook_frame) -> None:
    events = load_events(ROOT / "data" / "policy_events.yaml")
    hist = workbook_frame[workbook_frame["unique_id"] == "VE:southwest:usbp"]
    hist = hist[hist["ds"] <= "2023-03-01"]
    model = m.ProphetModel(events).fit(hist)
    assert model.model_.stan_backend is None
    used = {e.id for e in model.used_events_}
    assert "parole-venezuela" in used and "title42-end" not in used  # in effect after the cut
    assert set(model.effects()) == used
    out = pickle.loads(pickle.dumps(model)).predict(6)
    assert list(out.columns) == COLUMNS and np.isfinite(out["mean"]).all()
