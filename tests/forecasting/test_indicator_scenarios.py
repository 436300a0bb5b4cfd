"""Scenario forecasts on a transit indicator path, asked of the relay, on the bundled data.

The exact figures are on the CBP state releases with the transit files
(``tests/forecasting/conftest.py``): China's southwest encounters as of
2024-06, when the relay reads the Darién count (lead 1) and Ecuador's
entries (lead 2), both public with CBP's month. Each expected figure is
computed here from the counts, as the module docstring says the shift is
measured. The refusals and the served forecast use the OHSS workbook, where
China's southwest USBP series ends in 2024-11 (its Darién count: 82).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from forecasting.errors import ConfigError, UnknownSeries
from forecasting.forecasts import get_forecast, scenario_forecast
from forecasting.indicator_scenarios import (
    PathRelay,
    carried,
    indicator_effect,
    indicator_scenario,
    parse_edit,
    parse_edits,
)
from forecasting.indicators import indicator_frame, known_at
from forecasting.ingest import ingest
from forecasting.leading import citizenship_indicators
from forecasting.relay import ELASTICITY, Relay
from forecasting.store import Store
from tests.conftest import WORKBOOK, workbook_and_transit
from tests.forecasting.conftest import upto

CN_SW = ("CN", "southwest", "usbp")
DARIEN = "panama-darien:CN"
ECUADOR = "entries-ECU:CN"
DARIEN_CUT = {"source": "panama-darien", "change_pct": -90}
ORIGIN = "2024-06"


@pytest.fixture(scope="module")
def workbook(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return workbook_and_transit(tmp_path_factory.mktemp("indicator-scenarios"))


def history(frame: pd.DataFrame, month: str) -> pd.DataFrame:
    return upto(frame, month)[["ds", "y"]].reset_index(drop=True)


def effect(
    china: pd.DataFrame,
    indicators: pd.DataFrame,
    *edits: dict[str, Any],
    as_of: str = ORIGIN,
    horizon: int = 6,
    code: str = "CN",
    lags: dict[str, int] | None = None,
) -> dict[str, Any]:
    return indicator_effect(
        history(china, as_of), indicators, code, parse_edits(list(edits)), horizon, lags
    )


def changes(answer: dict[str, Any]) -> list[float]:
    return [e["log_change"] for e in answer["effect"]]


def count(indicators: pd.DataFrame, uid: str, month: str) -> float:
    rows = indicators[(indicators["unique_id"] == uid) & (indicators["ds"] == pd.Timestamp(month))]
    return float(rows["y"].iloc[0])


def cut(count: float, share: float, read: int = 2) -> float:
    """The relay's shift for a count cut to ``share`` of itself, among ``read`` indicators."""
    return ELASTICITY * (np.log1p(share * count) - np.log1p(count)) / read


def level_correlation(
    indicators: pd.DataFrame, uid: str, encounters: pd.DataFrame, lead: int, as_of: str
) -> float:
    """Pearson correlation of log1p counts at month m with log1p encounters at m + lead."""
    ind = upto(indicators[indicators["unique_id"] == uid], as_of).set_index("ds")["y"]
    enc = upto(encounters, as_of).set_index("ds")["y"]
    aligned = enc.reindex(ind.index + pd.DateOffset(months=lead)).to_numpy(dtype=float)
    both = ~np.isnan(aligned)
    x, y = np.log1p(ind.to_numpy(dtype=float)[both]), np.log1p(aligned[both])
    return float(np.corrcoef(x, y)[0, 1])


# -- the relay's reading of a path ------------------------------------------------------


def test_the_relay_reads_both_route_indicators_as_of_the_origin(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """The precondition of the figures below: two indicators read, so each counts half."""
    relay = Relay(china_indicators).fit(history(china, ORIGIN))
    assert set(relay.news_) == {DARIEN, ECUADOR}


def test_darien_cut_from_next_month_moves_the_months_after_its_lead(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """The cut month (2024-07) is public at origin 2024-07, so it first moves 2024-08."""
    answer = effect(china, china_indicators, DARIEN_CUT)
    darien = answer["indicators"][0]
    c = count(china_indicators, DARIEN, ORIGIN)
    assert answer["as_of"] == ORIGIN
    assert (darien["id"], darien["from"], darien["last_published"]) == (DARIEN, "2024-07", ORIGIN)
    assert (darien["lead_months"], darien["lag_months"], darien["used"], darien["note"]) == (
        1,
        0,
        True,
        "",
    )
    expected_corr = level_correlation(china_indicators, DARIEN, china, 1, ORIGIN)
    assert darien["correlation"] == round(expected_corr, 4)
    assert [p["carried"] for p in darien["path"]] == [round(c, 1)] * 6
    assert [p["scenario"] for p in darien["path"]] == [round(0.1 * c, 1)] * 6
    shift = cut(c, 0.1)
    assert [e["month"] for e in answer["effect"]][:2] == ["2024-07", "2024-08"]
    assert changes(answer) == [0.0] + [round(shift, 9)] * 5
    assert answer["effect"][1]["change_pct"] == round(100 * np.expm1(shift), 1)
    assert darien["effect"] == answer["effect"]


def test_ecuador_entries_cut_is_passed_on_once(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """Lead 2: the relay's two-month window would see a lasting cut twice if stepped as is."""
    answer = effect(china, china_indicators, {"source": "entries-ECU", "change_pct": -90})
    entry = answer["indicators"][0]
    assert (entry["lead_months"], entry["lag_months"], entry["used"]) == (2, 0, True)
    shift = cut(count(china_indicators, ECUADOR, ORIGIN), 0.1)
    assert changes(answer) == [0.0] + [round(shift, 9)] * 5


def test_a_month_published_late_moves_the_forecast_only_once_public(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """Ecuador's entries published a month late: as of 2024-06 the newest is May's.

    The cut starts in June, public in July, so it first moves August, as with
    no lag; the relay reads from April to May, and the cut is of May's count.
    """
    lags = {"regular-entries": 1}
    relay = Relay(china_indicators, lags=lags).fit(history(china, ORIGIN))
    assert set(relay.news_) == {DARIEN, ECUADOR}
    assert (relay.news_[ECUADOR]["from"], relay.news_[ECUADOR]["to"]) == ("2024-04", "2024-05")
    answer = effect(
        china, china_indicators, {"source": "entries-ECU", "change_pct": -90}, lags=lags
    )
    entry = answer["indicators"][0]
    assert (entry["lag_months"], entry["last_published"], entry["from"]) == (
        1,
        "2024-05",
        "2024-06",
    )
    shift = cut(count(china_indicators, ECUADOR, "2024-05"), 0.1)
    assert changes(answer) == [0.0] + [round(shift, 9)] * 5


@pytest.mark.parametrize("as_of", ["2023-06", ORIGIN, "2024-08"])
def test_the_carried_paths_give_the_relays_own_forecast(
    china: pd.DataFrame, china_indicators: pd.DataFrame, as_of: str
) -> None:
    origin = pd.Timestamp(as_of)
    past = history(china, as_of)
    known = known_at(china_indicators, origin)
    relay = PathRelay(known).fit(past)
    end = origin + pd.DateOffset(months=12)
    paths = {
        str(u): carried(pd.Series(p["y"].to_numpy(), index=pd.DatetimeIndex(p["ds"])), end)
        for u, p in known.groupby("unique_id")
    }
    base = relay.path_log(paths, 12)
    month = origin - pd.DateOffset(months=1)
    darien = np.log1p(count(china_indicators, DARIEN, as_of)) - np.log1p(
        count(china_indicators, DARIEN, f"{month:%Y-%m}")
    )
    month = origin - pd.DateOffset(months=2)
    ecuador = np.log1p(count(china_indicators, ECUADOR, as_of)) - np.log1p(
        count(china_indicators, ECUADOR, f"{month:%Y-%m}")
    )
    z = np.log1p(float(past["y"].iloc[-1]))
    np.testing.assert_allclose(base, [z + ELASTICITY * (darien + ecuador) / 2] * 12, rtol=1e-12)
    # the relay reads its changes rounded to 4 places: 0.3 x 0.00005 apart at most
    served = Relay(china_indicators).fit(past)
    np.testing.assert_allclose(base, served.point_log(12), rtol=0, atol=ELASTICITY * 5e-5)


def test_no_change_moves_nothing(china: pd.DataFrame, china_indicators: pd.DataFrame) -> None:
    answer = effect(
        china, china_indicators, {"source": "panama-darien", "change_pct": 0}, horizon=12
    )
    assert changes(answer) == [0.0] * 12


def test_a_later_start_moves_only_the_months_it_can_reach(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    answer = effect(china, china_indicators, {**DARIEN_CUT, "from": "2024-09"})
    shift = round(cut(count(china_indicators, DARIEN, ORIGIN), 0.1), 9)
    assert changes(answer) == [0.0, 0.0, 0.0, shift, shift, shift]  # 2024-07 .. 2024-12


def test_explicit_values_carry_forward(china: pd.DataFrame, china_indicators: pd.DataFrame) -> None:
    c = count(china_indicators, DARIEN, ORIGIN)
    same = effect(china, china_indicators, {"source": "panama-darien", "values": {"2024-08": c}})
    assert changes(same) == [0.0] * 6
    answer = effect(
        china, china_indicators, {"source": "panama-darien", "values": {"2024-08": c / 10}}
    )
    path = answer["indicators"][0]["path"]
    assert [p["scenario"] for p in path] == [round(c, 1)] + [round(c / 10, 1)] * 5
    assert changes(answer) == [0.0, 0.0] + [round(cut(c, 0.1), 9)] * 4


def test_paths_of_two_sources_are_reported_alone_and_together(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    ecuador = {"source": "entries-ECU", "change_pct": -50}
    answer = effect(china, china_indicators, DARIEN_CUT, ecuador)
    alone = [changes({"effect": i["effect"]}) for i in answer["indicators"]]
    assert alone[0] == changes(effect(china, china_indicators, DARIEN_CUT))
    assert alone[1] == changes(effect(china, china_indicators, ecuador))
    both = cut(count(china_indicators, DARIEN, ORIGIN), 0.1) + cut(
        count(china_indicators, ECUADOR, ORIGIN), 0.5
    )
    assert changes(answer) == [0.0] + [round(both, 9)] * 5


def test_later_indicator_months_than_the_origins_change_nothing(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    known = known_at(china_indicators, pd.Timestamp(ORIGIN))
    later = china_indicators.copy()
    later.loc[later["ds"] > pd.Timestamp(ORIGIN), "y"] *= 10
    for edit in (DARIEN_CUT, {"source": "entries-ECU", "change_pct": 50}):
        answer = effect(china, china_indicators, edit)
        assert effect(china, known, edit) == answer
        assert effect(china, later, edit) == answer


def test_the_store_answers_as_of_its_last_month(workbook: Store) -> None:
    """OHSS: China's southwest USBP to 2024-11, its Darién count 82 (the README's example)."""
    answer = indicator_scenario(workbook, *CN_SW, [DARIEN_CUT], horizon=6)
    darien = answer["indicators"][0]
    assert (answer["as_of"], darien["last_published"], darien["from"]) == (
        "2024-11",
        "2024-11",
        "2024-12",
    )
    assert [p["carried"] for p in darien["path"]] == [82.0] * 6
    shift = round(cut(82.0, 0.1), 9)
    assert changes(answer) == [0.0] + [shift] * 5
    assert [e["change_pct"] for e in answer["effect"]] == [0.0] + [-28.1] * 5


# -- what the relay does not read -------------------------------------------------------


def test_a_source_the_relay_does_not_read_has_no_effect(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """Mexico's count is public a month after CBP's and is not one of the relay's."""
    answer = effect(china, china_indicators, {"source": "mexico-irregular", "change_pct": -90})
    mexico = answer["indicators"][0]
    assert (mexico["last_published"], mexico["from"], mexico["lag_months"]) == (
        "2024-05",
        "2024-06",
        1,
    )
    assert (mexico["used"], mexico["lead_months"], mexico["correlation"]) == (False, None, None)
    assert "not read by the relay: not one of its indicators" in mexico["note"]
    assert changes(answer) == [0.0] * 6


def test_a_weak_correlation_is_reported_with_its_figure(store: Store) -> None:
    """Ecuadorians' entries into Ecuador do not follow their U.S. encounters."""
    encounters = store.series_frame(["EC:southwest:all"])
    indicators = citizenship_indicators(indicator_frame(store), "EC")
    answer = effect(encounters, indicators, {"source": "entries-ECU", "change_pct": -90}, code="EC")
    entry = answer["indicators"][0]
    expected = level_correlation(indicators, "entries-ECU:EC", encounters, 2, ORIGIN)
    assert expected < 0.5
    assert (entry["used"], entry["lead_months"], entry["correlation"]) == (
        False,
        2,
        round(expected, 4),
    )
    assert f"({expected:.4f}) is below 0.5" in entry["note"]
    assert changes(answer) == [0.0] * 6


def test_a_source_that_stopped_is_not_read(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """The transit files end in 2025-04: as of 2025-06 the Darién's months are not public."""
    answer = effect(china, china_indicators, DARIEN_CUT, as_of="2025-06")
    darien = answer["indicators"][0]
    assert (darien["last_published"], darien["from"], darien["used"]) == (
        "2025-04",
        "2025-05",
        False,
    )
    assert darien["correlation"] == round(
        level_correlation(china_indicators, DARIEN, china, 1, "2025-06"), 4
    )
    assert "2025-05 and 2025-06 are not both public" in darien["note"]
    assert changes(answer) == [0.0] * 6


def test_a_lead_within_the_publication_lag_is_not_read(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """Were the Darién published a month late, its change would be no news at lead 1."""
    answer = effect(china, china_indicators, DARIEN_CUT, lags={"panama-darien": 1})
    darien = answer["indicators"][0]
    assert (darien["last_published"], darien["lag_months"], darien["used"]) == (
        "2024-05",
        1,
        False,
    )
    assert "its lead (1) does not exceed its publication lag (1)" in darien["note"]
    assert changes(answer) == [0.0] * 6


def test_a_zero_count_cannot_be_cut_by_a_percentage(
    china: pd.DataFrame, china_indicators: pd.DataFrame
) -> None:
    """China's Darién count of 2025-04 is 0: a cut leaves it there, given values move it."""
    assert count(china_indicators, DARIEN, "2025-04") == 0.0
    answer = effect(china, china_indicators, DARIEN_CUT, as_of="2025-04")
    darien = answer["indicators"][0]
    assert darien["used"] and "is 0, so a relative change leaves the path at 0" in darien["note"]
    assert changes(answer) == [0.0] * 6
    rise = effect(
        china,
        china_indicators,
        {"source": "panama-darien", "values": {"2025-05": 100}},
        as_of="2025-04",
    )
    shift = ELASTICITY * np.log1p(100) / 2
    assert rise["indicators"][0]["note"] == ""
    assert changes(rise) == [0.0] + [round(shift, 9)] * 5


# -- refusals -----------------------------------------------------------------------------


def test_a_citizenship_without_the_indicator_is_refused_by_name(workbook: Store) -> None:
    with pytest.raises(UnknownSeries, match=r"Canada \(CA\) has no panama-darien series"):
        indicator_scenario(workbook, "CA", "southwest", "usbp", [DARIEN_CUT])


def test_a_store_without_transit_files_is_refused_by_name(tmp_path: Path) -> None:
    bare = Store(f"sqlite:///{tmp_path / 'workbook.db'}")
    ingest(bare, str(WORKBOOK))
    with pytest.raises(
        UnknownSeries, match=r"China \(CN\) has no panama-darien series; its indicators: none"
    ):
        indicator_scenario(bare, "CN", "southwest", "usbp", [DARIEN_CUT])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"source": "darien", "change_pct": -90}, r"unknown indicator source 'darien'"),
        ({"source": "panama-darien", "change_pct": -150}, r"change_pct must be -100 or more"),
        ({**DARIEN_CUT, "from": "2025-13"}, r"indicators\[0\]\.from must be a month"),
        ({"source": "panama-darien"}, r"exactly one of change_pct and values"),
        ({**DARIEN_CUT, "values": {"2025-01": 1}}, r"exactly one of change_pct and values"),
        ({"source": "panama-darien", "values": {"2025-01": -1}}, r"count of 0 or more"),
        ({"source": "panama-darien", "values": {"Jan": 1}}, r"values must be a month"),
        ({**DARIEN_CUT, "by": 1}, r"unknown field\(s\) by"),
    ],
)
def test_bad_paths_are_refused_naming_the_field(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_edits([raw])


def test_one_path_per_source() -> None:
    with pytest.raises(ConfigError, match=r"indicators\[1\]\.source: panama-darien .* twice"):
        parse_edits([DARIEN_CUT, DARIEN_CUT])


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {**DARIEN_CUT, "from": "2024-11"},
            r"from: 2024-11 is not after panama-darien:CN's last published month 2024-11",
        ),
        ({**DARIEN_CUT, "from": "2027-01"}, r"after the forecast's last month 2025-05"),
        ({"source": "panama-darien", "values": {"2024-06": 1}}, r"values: 2024-06 is not after"),
    ],
)
def test_months_outside_the_scenario_are_refused(
    workbook: Store, raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        indicator_scenario(workbook, *CN_SW, [raw], horizon=6)


def test_carried_keeps_the_record_and_repeats_the_last_count() -> None:
    series = pd.Series([5.0, 7.0], index=pd.to_datetime(["2024-01-01", "2024-02-01"]))
    out = carried(series, pd.Timestamp("2024-04-01"))
    assert out.tolist() == [5.0, 7.0, 7.0, 7.0]
    assert parse_edit({"source": "entries-ECU", "change_pct": -100}).change_pct == -100.0


def test_refused_before_any_model_is_needed(workbook: Store) -> None:
    """The store has no trained model: the missing indicator is the error, not NoModel."""
    with pytest.raises(UnknownSeries, match=r"Canada \(CA\)"):
        scenario_forecast(workbook, "CA", "southwest", "usbp", indicators=[DARIEN_CUT])


# -- on the served forecast (trains China's series) ---------------------------------------


@pytest.fixture(scope="module")
def trained(workbook: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    from forecasting.forecasts import retrain
    from forecasting.settings import get_settings

    models = tmp_path_factory.mktemp("indicator-scenario-models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BORDERCAST_MODEL_DIR", str(models))
        get_settings.cache_clear()
        retrain(workbook, ["CN:southwest:usbp"])
        yield workbook
    get_settings.cache_clear()


@pytest.mark.slow
def test_scenario_is_the_served_forecast_shifted_after_the_lead(trained: Store) -> None:
    answer = scenario_forecast(trained, *CN_SW, indicators=[DARIEN_CUT], horizon=6)
    served = get_forecast(trained, *CN_SW, horizon=6)
    base, scenario = answer["baseline"]["forecast"], answer["scenario"]["forecast"]
    assert base == served["forecast"]
    assert scenario[0] == base[0]
    for b, s in zip(base[1:], scenario[1:], strict=True):
        assert s["mean"] < b["mean"] and s["lower"] < b["lower"] and s["upper"] < b["upper"]
    assert answer["indicators"][0]["lead_months"] == 1
    assert answer["indicator_effect"] == answer["indicators"][0]["effect"]


@pytest.mark.slow
def test_scenario_without_change_is_the_baseline(trained: Store) -> None:
    zero = {"source": "panama-darien", "change_pct": 0}
    answer = scenario_forecast(trained, *CN_SW, indicators=[zero])
    assert answer["scenario"]["forecast"] == answer["baseline"]["forecast"]


@pytest.mark.slow
def test_indicator_paths_combine_with_event_edits(trained: Store) -> None:
    policy = scenario_forecast(trained, *CN_SW, remove_event_ids=["title42-end"], horizon=6)
    both = scenario_forecast(
        trained, *CN_SW, remove_event_ids=["title42-end"], indicators=[DARIEN_CUT], horizon=6
    )
    assert both["events"] == policy["events"]
    for p, s, e in zip(
        policy["scenario"]["forecast"],
        both["scenario"]["forecast"],
        both["indicator_effect"],
        strict=True,
    ):
        expected = np.expm1(np.log1p(p["mean"]) + e["log_change"])
        assert s["mean"] == pytest.approx(expected, abs=0.2)


@pytest.mark.slow
def test_the_cli_prints_the_same_scenario(trained: Store) -> None:
    """``bordercast scenario`` (kept here beside its fixture; tests/test_cli.py is its home)."""
    import json
    import os
    import subprocess
    import sys

    from forecasting.settings import get_settings

    env = {
        **os.environ,
        "BORDERCAST_DATABASE_URL": trained.url,
        "BORDERCAST_MODEL_DIR": str(get_settings().model_dir),
    }
    args = [sys.executable, "-m", "bordercast", "scenario", "CN", "--component", "usbp"]
    done = subprocess.run(
        [*args, "--indicator", "panama-darien:-90", "--horizon", "3", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    expected = scenario_forecast(trained, *CN_SW, indicators=[DARIEN_CUT], horizon=3)
    assert json.loads(done.stdout) == json.loads(json.dumps(expected, default=str))
    refused = subprocess.run(
        [*args[:4], "CA", "--component", "usbp", "--indicator", "panama-darien:-90"],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert refused.returncode == 2
    assert "Canada (CA) has no panama-darien series" in refused.stderr
