"""Transit watches: a Darién or Ecuador jump opens a watch, on the bundled OHSS and transit data."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from forecasting.alerts import detect_as_of
from forecasting.indicators import indicator_frame
from forecasting.replay import bordercast_detector, evaluate
from forecasting.store import Store
from forecasting.surges import SurgeSettings, episodes, events_frame, new_events, on_matrix
from forecasting.transit_watch import jumps
from tests.conftest import ROOT, workbook_and_transit

CN = "CN:southwest:usbp"
#: A looser rule than the default, under which China's Darién count opens a
#: watch in 2022-03 (56 crossings, x2.3 their 6-month mean of 24).
LOOSE = SurgeSettings(use_indicators=True, indicator_ratio=2.0, indicator_minimum=50.0)
CHINA_REASON = "Darién crossings by nationals of China: 56 in 2022-03, x2.3 their 6-month mean (24)"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return workbook_and_transit(tmp_path_factory.mktemp("transit-watch"))


@pytest.fixture(scope="module")
def southwest(store: Store) -> pd.DataFrame:
    return store.series_frame(region="southwest", component="usbp")


@pytest.fixture(scope="module")
def indicators(store: Store) -> pd.DataFrame:
    return indicator_frame(store)


def china(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["unique_id"] == CN].reset_index(drop=True)


def surge_episodes(found: list, uid: str = CN) -> list:
    """The series' surge episodes opened from 2020 on (China had others in the 2000s)."""
    return [
        e
        for e in found
        if e.unique_id == uid and e.kind == "surge" and e.opened >= pd.Timestamp("2020-01-01")
    ]


# --------------------------------------------------------------------------- the rule


def test_a_jump_names_the_indicator_its_count_and_change(indicators: pd.DataFrame) -> None:
    found = jumps(indicators, window=6, ratio=2.0, minimum=50.0)
    first = found[found["citizenship"] == "CN"].iloc[0]
    assert first["indicator"] == "panama-darien"
    assert first["month"] == pd.Timestamp("2022-03-01")
    assert first["ds"] == pd.Timestamp("2022-03-01")  # Darién: public with CBP's month
    assert first["value"] == 56
    assert first["mean"] == pytest.approx((3 + 11 + 22 + 39 + 32 + 39) / 6)
    assert first["reason"] == CHINA_REASON


def test_jumps_defaults_are_the_surge_settings_defaults() -> None:
    import inspect

    params = inspect.signature(jumps).parameters
    s = SurgeSettings()
    assert (params["window"].default, params["ratio"].default, params["minimum"].default) == (
        s.indicator_window,
        s.indicator_ratio,
        s.indicator_minimum,
    )


def test_ecuadorians_entering_ecuador_are_not_transit(indicators: pd.DataFrame) -> None:
    # Ecuador's file reports its own nationals only from 2024-01: 0, then 113,505.
    ec = indicators[indicators["unique_id"] == "entries-ECU:EC"].set_index("ds")["y"]
    assert ec[pd.Timestamp("2023-12-01")] == 0 and ec[pd.Timestamp("2024-01-01")] > 100_000
    found = jumps(indicators, window=1, ratio=1.01, minimum=0.0)
    assert not ((found["citizenship"] == "EC") & (found["indicator"] == "entries-ECU")).any()
    assert ((found["citizenship"] == "EC") & (found["indicator"] == "panama-darien")).any()


def test_a_count_is_dated_when_it_was_public(indicators: pd.DataFrame) -> None:
    found = jumps(indicators, 6, 2.0, 50.0, lags={"panama-darien": 1})
    first = found[found["citizenship"] == "CN"].iloc[0]
    assert (first["month"], first["ds"]) == (pd.Timestamp("2022-03-01"), pd.Timestamp("2022-04-01"))


def test_bad_rule_parameters_are_named(indicators: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="ratio must be greater than 1"):
        jumps(indicators, ratio=1.0)
    with pytest.raises(ValueError, match="window must be at least 1"):
        jumps(indicators, window=0)


# --------------------------------------------------------------------------- the watch


def test_chinas_darien_jump_opens_a_watch_before_the_us_counts(
    southwest: pd.DataFrame, indicators: pd.DataFrame
) -> None:
    without = surge_episodes(episodes(china(southwest), as_of="2024-06"))
    with_ = surge_episodes(episodes(china(southwest), LOOSE, "2024-06", indicators=indicators))
    assert without[0].opened == pd.Timestamp("2022-04-01")
    watch = with_[0]
    assert watch.opened == pd.Timestamp("2022-03-01")
    assert (watch.severity_at_open, watch.reason) == ("watch", CHINA_REASON)
    opening = watch.events[0]
    assert (opening.action, opening.reason) == ("open", CHINA_REASON)
    # From then on the U.S. counts drive it: escalated in 2022-04 and 2022-07, as
    # the U.S.-only episode was, with no reason of its own.
    assert watch.escalated == (pd.Timestamp("2022-04-01"), pd.Timestamp("2022-07-01"))
    assert [e.severity for e in watch.events[1:3]] == ["warning", "critical"]
    assert all(e.reason is None for e in watch.events[1:])
    assert watch.resolved == without[0].resolved == pd.Timestamp("2024-03-01")


def test_the_replay_counts_chinas_watch_as_a_month_more_warning(
    southwest: pd.DataFrame, indicators: pd.DataFrame
) -> None:
    frame = china(southwest)
    reports = [
        evaluate(
            frame,
            start="2020-01",
            end="2024-11",
            detector=bordercast_detector(frame, settings, indicators=indicators),
        )
        for settings in (SurgeSettings(), LOOSE)
    ]
    without, with_ = (r.surges.set_index("onset").loc[pd.Timestamp("2022-07-01")] for r in reports)
    assert without["first_alert"] == pd.Timestamp("2022-04-01") and without["months_early"] == 3
    assert with_["first_alert"] == pd.Timestamp("2022-03-01") and with_["months_early"] == 4


def test_with_the_replayed_defaults_china_gains_nothing(
    southwest: pd.DataFrame, indicators: pd.DataFrame
) -> None:
    on = SurgeSettings(use_indicators=True)
    found = surge_episodes(episodes(china(southwest), on, "2023-12", indicators=indicators))
    assert found[0].opened == pd.Timestamp("2022-04-01") and found[0].reason is None


def test_an_unpublished_month_does_not_trigger(
    southwest: pd.DataFrame, indicators: pd.DataFrame
) -> None:
    on_time = episodes(china(southwest), LOOSE, "2022-03", indicators=indicators)
    assert [e.opened for e in surge_episodes(on_time) if e.is_open] == [pd.Timestamp("2022-03-01")]
    late = {"panama-darien": 1}
    at_march = episodes(china(southwest), LOOSE, "2022-03", indicators=indicators, lags=late)
    assert not [e for e in surge_episodes(at_march) if e.is_open]
    at_april = episodes(china(southwest), LOOSE, "2022-04", indicators=indicators, lags=late)
    assert [e.opened for e in surge_episodes(at_april) if e.is_open] == [pd.Timestamp("2022-04-01")]


@pytest.mark.parametrize("lags", [None, {"panama-darien": 1, "regular-entries": 2}])
def test_each_jump_is_known_from_what_was_public_then(
    store: Store, indicators: pd.DataFrame, lags: dict[str, int] | None
) -> None:
    full = jumps(indicators, 6, 2.0, 50.0, lags=lags)
    for month in pd.date_range("2021-03", "2024-12", freq="6MS"):
        public = indicator_frame(store, as_of=month, lags=lags)
        then = jumps(public, 6, 2.0, 50.0, lags=lags)
        assert len(then) > 0
        pd.testing.assert_frame_equal(
            then, full[full["ds"] <= month].reset_index(drop=True), check_dtype=False
        )


def test_later_data_never_changes_a_past_decision(
    store: Store, southwest: pd.DataFrame, indicators: pd.DataFrame
) -> None:
    month = "2022-06"
    cut_frame = southwest[southwest["ds"] <= month]
    known = indicator_frame(store, as_of=month)
    assert known["ds"].max() == pd.Timestamp(month) < indicators["ds"].max()
    as_then = events_frame(episodes(cut_frame, LOOSE, month, indicators=known))
    full = events_frame(episodes(southwest, LOOSE, indicators=indicators))
    full = full[full["ds"] <= month].reset_index(drop=True)
    assert (as_then["reason"].notna()).any()
    pd.testing.assert_frame_equal(as_then, full, check_dtype=False)


def test_month_by_month_events_equal_one_pass(
    southwest: pd.DataFrame, indicators: pd.DataFrame
) -> None:
    codes = ("CN", "IN", "VE", "EC", "CO", "AF", "UZ")
    frame = southwest[southwest["unique_id"].str.split(":").str[0].isin(codes)]
    indicators = indicators[indicators["unique_id"].str.split(":").str[1].isin(codes)]
    months = pd.date_range("2021-01", "2023-06", freq="MS")
    sent = pd.concat(
        [new_events(frame[frame["ds"] <= m], LOOSE, m, indicators=indicators) for m in months],
        ignore_index=True,
    )
    once = events_frame(episodes(frame, LOOSE, months[-1], indicators=indicators))
    once = once[once["ds"] >= months[0]]
    assert sent["event_id"].tolist() == once["event_id"].tolist()
    assert sent["reason"].notna().sum() > 0


def test_flag_off_reproduces_the_us_detector_exactly(
    southwest: pd.DataFrame, indicators: pd.DataFrame
) -> None:
    off = SurgeSettings()
    assert off.use_indicators is False
    base = episodes(southwest, off)
    assert episodes(southwest, off, indicators=indicators) == base
    # The watch path itself changes nothing when no indicator jumps.
    empty = indicators.iloc[:0]
    assert (
        episodes(southwest, dataclasses.replace(off, use_indicators=True), indicators=empty) == base
    )
    pd.testing.assert_frame_equal(
        on_matrix(southwest, off, indicators=indicators), on_matrix(southwest, off)
    )
    assert all(e.reason is None for e in base)


def test_the_flag_on_needs_the_indicators(southwest: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="use_indicators needs the indicators frame"):
        episodes(china(southwest), SurgeSettings(use_indicators=True))


# --------------------------------------------------------------------------- resolution


def _series(values: list[float], uid: str, start: str = "2018-01") -> pd.DataFrame:
    ds = pd.date_range(start, periods=len(values), freq="MS")
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": np.asarray(values, dtype="float64")})


def test_an_unconfirmed_watch_ends_when_the_indicator_calms() -> None:
    # 24 months of 10, then a slow creep above 1.25x the level but far below
    # the surge minimum; the Darién jumps once, in the 26th month.
    frame = _series([10.0] * 25 + [20.0, 25.0, 30.0, 35.0, 40.0], "NP:southwest:usbp")
    darien = _series([5.0] * 25 + [300.0] + [5.0] * 4, "panama-darien:NP")
    (watch,) = episodes(frame, SurgeSettings(use_indicators=True), indicators=darien)
    assert watch.opened == pd.Timestamp("2020-02-01")
    assert watch.reason.startswith("Darién crossings by nationals of Nepal: 300 in 2020-02, x60.0")
    assert watch.resolved == pd.Timestamp("2020-03-01")


def test_an_indicator_never_ends_a_drop() -> None:
    # A drop opens in the 26th month; the next months are no drop signal any
    # more (500 > 0.4 x 1000) but not back either (< 0.7 x 1000).
    frame = _series([1000.0] * 25 + [100.0, 500.0, 500.0], "NP:southwest:usbp")
    darien = _series([5.0] * 26 + [300.0, 5.0], "panama-darien:NP")
    found = episodes(frame, SurgeSettings(use_indicators=True), indicators=darien)
    assert [(e.kind, e.opened, e.resolved) for e in found] == [
        ("drop", pd.Timestamp("2020-02-01"), None)
    ]


# --------------------------------------------------------------------------- alerts


def test_an_alert_carries_the_indicator_reason(store: Store) -> None:
    found = detect_as_of(store, "2022-03", citizenship="CN", region="southwest", settings=LOOSE)
    (alert,) = [a for a in found["alerts"] if a["unique_id"] == CN and a["kind"] == "surge"]
    assert (alert["opened"], alert["severity"], alert["reason"]) == (
        "2022-03",
        "watch",
        CHINA_REASON,
    )
    default = detect_as_of(store, "2022-03", citizenship="CN", region="southwest")
    assert not [a for a in default["alerts"] if a["kind"] == "surge"]


def test_the_defaults_are_the_benchmarks_pick_and_decision() -> None:
    result = json.loads((ROOT / "bench" / "results" / "transit_watch.json").read_text())
    s = SurgeSettings()
    assert result["chosen"] == {
        "indicator_window": s.indicator_window,
        "indicator_ratio": s.indicator_ratio,
        "indicator_minimum": s.indicator_minimum,
    }
    assert result["decision"] == ("on" if s.use_indicators else "off")
    overall = result["summary"]["all"]
    assert s.use_indicators == (overall["months_gained"] > 0 and overall["false_added"] <= 0)
