"""The relay and the three-way choice, on the bundled CBP and transit data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from forecasting.indicators import indicator_frame
from forecasting.leading import (
    Candidates,
    Leading,
    choice_from_errors,
    citizenship_indicators,
    known_at,
)
from forecasting.models import RandomWalk, SeasonalNaive
from forecasting.relay import ELASTICITY, Relay
from forecasting.store import Store
from tests.forecasting.conftest import upto


def test_the_darien_collapse_of_august_2024_is_passed_on(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """Ecuador's visa rule: China's Darién count fell from 772 (July) to 53 (August 2024)."""
    relay = Relay(china_indicators).fit(upto(china, "2024-08"))
    darien = relay.news_["panama-darien:CN"]
    assert (darien["from"], darien["to"], darien["lead_months"]) == ("2024-07", "2024-08", 1)
    assert darien["log_change"] == pytest.approx(np.log(54 / 773), abs=1e-4)
    changes = [n["log_change"] for n in relay.news_.values()]
    last = float(china.loc[china["ds"] == "2024-08-01", "y"].iloc[0])
    expected = np.round(np.expm1(np.log1p(last) + ELASTICITY * np.mean(changes)))
    np.testing.assert_array_equal(relay.point(3), [expected] * 3)
    assert relay.point(1)[0] < last  # the encounters are forecast to fall with the crossings


def test_a_source_that_stopped_is_not_read(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """Every transit file ends in 2025-04: as of 2025-06 the relay is the random walk."""
    assert Relay(china_indicators).fit(upto(china, "2025-04")).leads
    stopped = Relay(china_indicators).fit(upto(china, "2025-06"))
    assert not stopped.leads
    last = float(china.loc[china["ds"] == "2025-06-01", "y"].iloc[0])
    np.testing.assert_array_equal(stopped.point(2), [last, last])


def test_later_indicator_months_change_nothing(
    store: Store, china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    origin = "2024-03"
    cut = citizenship_indicators(indicator_frame(store, as_of=origin), "CN")
    a = Relay(cut).fit(upto(china, origin))
    b = Relay(china_indicators).fit(upto(china, origin))
    assert a.leads and a.news_ == b.news_
    np.testing.assert_array_equal(a.point(3), b.point(3))
    # the month of the origin itself enters: Darién is public with CBP's month
    bumped = china_indicators.copy()
    hit = (bumped["unique_id"] == "panama-darien:CN") & (bumped["ds"] == pd.Timestamp(origin))
    bumped.loc[hit, "y"] *= 3
    assert Relay(bumped).fit(upto(china, origin)).point(1)[0] > a.point(1)[0]


def test_a_weak_level_correlation_keeps_an_indicator_out(china: pd.DataFrame) -> None:
    """An indicator whose levels do not follow the encounters is not read, however it moves."""
    months = pd.date_range("2020-01-01", "2024-08-01", freq="MS")
    rng = np.random.default_rng(7)
    noise = pd.DataFrame(
        {"unique_id": "panama-darien:CN", "ds": months, "y": rng.integers(1, 5000, len(months))}
    )
    assert not Relay(noise).fit(upto(china, "2024-08")).leads


def errors(ae: dict[str, float], n: int, active: dict[str, bool] | None = None) -> pd.DataFrame:
    months = pd.date_range("2023-01-01", periods=n, freq="MS")
    active = active or {"blend": True, "relay": True}
    return pd.DataFrame(
        {
            "cutoff": months,
            "ds": months + pd.DateOffset(months=1),
            "h": 1,
            "ae_without": 20.0,
            **{f"ae_{c}": v for c, v in ae.items()},
            **{f"active_{c}": v for c, v in active.items()},
        }
    )


AS_OF = pd.Timestamp("2024-06-01")


def test_the_better_tested_candidate_is_served() -> None:
    both_won = errors({"blend": 10.0, "relay": 15.0}, 8)
    assert choice_from_errors(both_won, AS_OF)[1]["pick"] == "blend"
    relay_won = errors({"blend": 15.0, "relay": 10.0}, 8)
    assert choice_from_errors(relay_won, AS_OF)[1]["pick"] == "relay"


def test_a_beaten_candidate_is_out_and_untested_ones_are_kept_by_preference() -> None:
    both_lost = errors({"blend": 30.0, "relay": 25.0}, 8)
    choice = choice_from_errors(both_lost, AS_OF)[1]
    assert choice["pick"] == "without" and not choice["use"]
    untested = errors({"blend": 30.0, "relay": 30.0}, 5)
    assert choice_from_errors(untested, AS_OF)[1]["pick"] == "relay"
    # a candidate that won its backtest goes before one nobody has scored yet
    relay_idle = errors({"blend": 10.0, "relay": 20.0}, 8, {"blend": True, "relay": False})
    assert choice_from_errors(relay_idle, AS_OF)[1]["pick"] == "blend"


def test_a_candidate_no_indicator_enters_now_is_not_picked() -> None:
    relay_won = errors({"blend": 15.0, "relay": 10.0}, 8)
    choice = choice_from_errors(relay_won, AS_OF, available=["blend"])[1]
    assert choice["pick"] == "blend"
    assert choice_from_errors(relay_won, AS_OF, available=[])[1]["pick"] == "without"


def test_candidates_serve_without_where_no_indicator_enters(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    known = known_at(china_indicators, pd.Timestamp("2025-08-01"))
    history = upto(china, "2025-08")
    fitted = Candidates(history, known, SeasonalNaive())
    assert fitted.active == {"blend": False, "relay": False}
    # "without" here differs from the random walk an idle relay or blend would give
    assert not np.array_equal(fitted.without.point(3), RandomWalk().fit(history).point(3))
    for name in ("blend", "relay", "without"):
        np.testing.assert_array_equal(fitted.model(name).point(3), fitted.without.point(3))


def test_each_horizon_serves_the_candidate_picked_for_it(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """As of 2023-03 both candidates read China's indicators; horizons beyond 3 follow h3."""
    model = Leading(china_indicators, n_origins=12).fit(upto(china, "2023-03"))
    assert model.fitted_.active == {"blend": True, "relay": True}
    model.choice_ = {1: {"pick": "relay"}, 2: {"pick": "blend"}, 3: {"pick": "without"}}
    fitted = model.fitted_
    expected = [
        fitted.relay.delta(5)[0],
        fitted.blend.delta(5)[1],
        *fitted.without.delta(5)[2:],
    ]
    np.testing.assert_allclose(model.delta(5), expected)
    assert len({round(float(v), 9) for v in expected[:3]}) == 3  # the three differ here


def test_a_series_too_short_to_backtest_gets_a_choice_for_every_horizon(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """20 months: no past origin is scored, so no candidate has lost; each horizon has a pick."""
    short = china[(china["ds"] >= "2022-01-01") & (china["ds"] <= "2023-08-01")]
    model = Leading(china_indicators).fit(short)
    assert set(model.choice_) == {1, 2, 3}
    assert all(c["n_relay"] == 0 and c["n_blend"] == 0 for c in model.choice_.values())
    assert len(model.predict(3)) == 3


def test_a_model_pickled_before_the_relay_still_predicts(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """A registry artifact of 0.2.0 held ``with_`` (the blend) and a with/without choice."""
    model = Leading(china_indicators, n_origins=12).fit(upto(china, "2023-03"))
    fitted = model.fitted_
    old = {k: v for k, v in model.__getstate__().items() if k != "fitted_"}
    old["with_"] = fitted.blend
    old["choice_"] = {
        1: {"use": True, "rel_with_vs_without": 0.9, "n": 8},
        2: {"use": False, "rel_with_vs_without": 1.1, "n": 8},
        3: {"use": False, "rel_with_vs_without": None, "n": 0},
    }
    restored = Leading.__new__(Leading)
    restored.__setstate__(old)
    expected = [fitted.blend.delta(3)[0], *fitted.without.delta(3)[1:]]
    np.testing.assert_allclose(restored.delta(3), expected)
    assert not restored.fitted_.relay.leads
