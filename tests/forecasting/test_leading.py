"""The indicator model, the blend and the choice, on the bundled CBP and transit data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.indicators import indicator_frame
from forecasting.leading import (
    Blend,
    IndicatorModel,
    Leading,
    choice_from_errors,
    citizenship_indicators,
    known_at,
)
from forecasting.models import RandomWalk
from forecasting.store import Store
from tests.forecasting.conftest import upto


def test_only_the_three_sources_of_the_citizenship(china_indicators: pd.DataFrame) -> None:
    assert set(china_indicators["unique_id"]) == {
        "panama-darien:CN",
        "mexico-irregular:CN",
        "entries-ECU:CN",
    }


def test_known_at_honours_the_publication_lag(china_indicators: pd.DataFrame) -> None:
    known = known_at(china_indicators, pd.Timestamp("2024-06-01"))
    last = known.groupby("unique_id")["ds"].max()
    assert last["panama-darien:CN"] == pd.Timestamp("2024-06-01")
    assert last["entries-ECU:CN"] == pd.Timestamp("2024-06-01")
    assert last["mexico-irregular:CN"] == pd.Timestamp("2024-05-01")
    # a lag given per call overrides the default
    assert known_at(china_indicators, pd.Timestamp("2024-06-01"), {"mexico-irregular": 2})[
        "ds"
    ].max() == pd.Timestamp("2024-06-01")


def test_forecast_does_not_change_when_later_indicator_data_is_appended(
    store: Store, china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    origin = "2024-03"
    history = upto(china, origin)
    as_of = citizenship_indicators(indicator_frame(store, as_of=origin), "CN")
    cut = IndicatorModel(as_of).fit(history)
    full = IndicatorModel(china_indicators).fit(history)
    assert cut.active
    np.testing.assert_allclose(cut.delta(3), full.delta(3))
    assert cut.used_ == full.used_


def test_mexico_month_m_is_not_used_at_origin_m(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    origin = pd.Timestamp("2024-06-01")
    history = upto(china, "2024-06")
    base = IndicatorModel(china_indicators).fit(history)
    assert "mexico-irregular:CN" in base.used_  # so its months do enter the features

    def bumped(month: pd.Timestamp) -> pd.DataFrame:
        out = china_indicators.copy()
        hit = (out["unique_id"] == "mexico-irregular:CN") & (out["ds"] == month)
        out.loc[hit, "y"] = out.loc[hit, "y"] * 50
        return out

    same = IndicatorModel(bumped(origin)).fit(history)
    np.testing.assert_allclose(same.delta(3), base.delta(3))
    earlier = IndicatorModel(bumped(origin - pd.DateOffset(months=1))).fit(history)
    assert not np.allclose(earlier.delta(3), base.delta(3))


def test_lead_is_measured_on_data_before_the_origin(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    model = IndicatorModel(china_indicators).fit(upto(china, "2023-06"))
    for rel in model.used_.values():
        assert rel["end"] <= "2023-06"


def test_without_any_indicator_it_is_the_random_walk(china: pd.DataFrame) -> None:
    empty = pd.DataFrame({"unique_id": [], "ds": pd.to_datetime([]), "y": []})
    model = IndicatorModel(empty).fit(upto(china, "2023-06"))
    assert not model.active
    np.testing.assert_array_equal(model.delta(3), np.zeros(3))


def test_china_backtest_beats_the_random_walk_at_h1(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """The CBP `all` series: AvgRelMAE 0.92 at h1 (`bench/indicators.py --component all`)."""
    y = china["y"].to_numpy()
    ratios = []
    for origin in pd.date_range("2021-01-01", "2025-10-01", freq="MS"):
        t = int(np.flatnonzero(china["ds"] == origin)[0])
        history = china.iloc[: t + 1]
        model = IndicatorModel(known_at(china_indicators, origin)).fit(history)
        forecast = model.predict(1)["mean"].iloc[0]
        ae, ae_rw = abs(y[t + 1] - forecast), abs(y[t + 1] - y[t])
        ratios.append(np.log(max(ae, 1.0) / max(ae_rw, 1.0)))
    assert np.exp(np.mean(ratios)) < 0.96


def test_choice_scores_only_targets_observed_by_the_origin() -> None:
    months = pd.date_range("2023-01-01", periods=10, freq="MS")
    errors = pd.DataFrame(
        {
            "cutoff": months,
            "ds": months + pd.DateOffset(months=1),
            "h": 1,
            "ae_blend": [10.0] * 8 + [1000.0] * 2,
            "ae_without": [20.0] * 10,
            "active_blend": True,
        }
    )
    early = choice_from_errors(errors, pd.Timestamp("2023-09-01"))
    assert early[1]["pick"] == "blend" and early[1]["n_blend"] == 8
    assert early[1]["rel_blend_vs_without"] == pytest.approx(0.5)
    late = choice_from_errors(errors, pd.Timestamp("2023-11-01"))
    assert late[1]["n_blend"] == 10 and late[1]["rel_blend_vs_without"] > 0.5


def test_blend_is_dropped_only_where_enough_scored_targets_say_it_lost() -> None:
    months = pd.date_range("2023-01-01", periods=8, freq="MS")

    def errors(ae_blend: float, n: int) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "cutoff": months[:n],
                "ds": months[:n] + pd.DateOffset(months=1),
                "h": 1,
                "ae_blend": ae_blend,
                "ae_without": 20.0,
                "active_blend": True,
            }
        )

    as_of = pd.Timestamp("2024-01-01")
    assert not choice_from_errors(errors(30.0, 6), as_of)[1]["use"]  # lost on 6 targets
    assert choice_from_errors(errors(30.0, 5), as_of)[1]["use"]  # too few to say it lost
    assert choice_from_errors(errors(10.0, 8), as_of)[1]["use"]


def test_leading_keeps_the_choice_and_both_scores(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    model = Leading(china_indicators, n_origins=12).fit(upto(china, "2024-06"))
    meta = model.metadata
    assert set(meta["choice"]) == {1, 2, 3}
    assert set(meta["choice"].values()) <= {"blend", "relay", "without"}
    for c in ("blend", "relay"):
        assert {f"rel_{c}_vs_without", f"n_{c}", "use", "pick"} <= set(meta["scores"][1])
    assert set(meta["relay"]) <= {"panama-darien:CN", "entries-ECU:CN"}
    assert meta["as_of"] == "2024-06"
    assert "panama-darien:CN" in meta["indicators"]
    forecast = model.predict(3)
    assert len(forecast) == 3 and (forecast["mean"] >= 0).all()


def test_the_blend_uses_indicators_only_where_one_leads(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """China, as of 2023-01: the indicators lead by a month when public with CBP's month;
    published three months later they still enter the fit but show nothing ahead."""
    history, origin = upto(china, "2023-01"), pd.Timestamp("2023-01-01")
    leading = Blend(RandomWalk(), IndicatorModel(known_at(china_indicators, origin))).fit(history)
    assert leading.indicator.leads
    assert np.abs(leading.delta(3)).max() > 0.01
    late = {"panama-darien": 3, "mexico-irregular": 3, "regular-entries": 3}
    behind = Blend(RandomWalk(), IndicatorModel(known_at(china_indicators, origin, late), late))
    behind.fit(history)
    assert behind.indicator.active and not behind.indicator.leads
    assert np.abs(behind.indicator.delta(3)).max() > 0.01  # it has a say of its own...
    assert np.array_equal(behind.delta(3), np.zeros(3))  # ...which the blend leaves out
