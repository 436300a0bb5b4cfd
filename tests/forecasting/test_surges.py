"""Surge detection, episodes and the replay that scores them."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from forecasting.errors import ConfigError
from forecasting.readers import read
from forecasting.replay import evaluate, one_step_upper, surge_onsets
from forecasting.surges import (
    SurgeSettings,
    detect,
    episodes,
    events_frame,
    new_events,
    on_matrix,
)
from tests.conftest import WORKBOOK

CN = "CN:southwest:usbp"


def series(
    values: list[float], uid: str = "XX:southwest:usbp", start: str = "2015-01"
) -> pd.DataFrame:
    """One series in the long shape, monthly from ``start``."""
    ds = pd.date_range(start, periods=len(values), freq="MS")
    return pd.DataFrame({"unique_id": uid, "ds": ds, "y": np.asarray(values, dtype="float64")})


def noisy_panel(n_series: int = 40, months: int = 120, seed: int = 7) -> pd.DataFrame:
    """Random series with a few surges and drops, for properties that must hold on any data."""
    rng = np.random.default_rng(seed)
    parts = []
    for k in range(n_series):
        base = rng.choice([5, 80, 300, 2000])
        y = rng.poisson(base, months).astype(float)
        for _ in range(rng.integers(0, 3)):
            t0 = int(rng.integers(12, months - 6))
            length = int(rng.integers(2, 12))
            y[t0 : t0 + length] *= rng.choice([0.1, 3.0, 6.0])
        parts.append(series(list(np.round(y, -1)), uid=f"S{k:02d}:southwest:usbp", start="2010-01"))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def southwest() -> pd.DataFrame:
    """Every southwest USBP series of the bundled workbook, through the project's reader."""
    counts = read(WORKBOOK.name, WORKBOOK.read_bytes()).counts
    counts = counts[
        (counts["region"] == "southwest")
        & (counts["component"] == "usbp")
        & (counts["citizenship"] != "ALL")
    ]
    frame = pd.DataFrame(
        {
            "unique_id": counts["citizenship"] + ":southwest:usbp",
            "ds": counts["month"],
            "y": counts["count"].astype("float64"),
        }
    )
    return frame.sort_values(["unique_id", "ds"], ignore_index=True)


# --------------------------------------------------------------------------- the real history


def test_china_2022_surge_flagged_by_december_2022(southwest: pd.DataFrame) -> None:
    # The workbook's figures the issue quotes: Sep-Dec 2022 = 390, 410, 520, 930.
    cn = southwest[southwest["unique_id"] == CN].set_index("ds")["y"]
    assert cn["2022-09":"2022-12"].tolist() == [390, 410, 520, 930]

    found = [e for e in episodes(southwest, as_of="2022-12") if e.unique_id == CN]
    surge = [e for e in found if e.kind == "surge" and e.is_open]
    assert len(surge) == 1, found
    assert pd.Timestamp("2022-01") <= surge[0].opened <= pd.Timestamp("2022-12")
    # December itself signals too, with what was known in December.
    dec = detect(southwest, as_of="2022-12")
    row = dec[dec["unique_id"] == CN]
    assert row["kind"].tolist() == ["surge"]
    assert row["observed"].iloc[0] == 930


def test_detection_reads_nothing_after_as_of(southwest: pd.DataFrame) -> None:
    before = detect(southwest, as_of="2022-12")
    future = southwest.assign(y=np.where(southwest["ds"] > "2022-12-01", 0.0, southwest["y"]))
    pd.testing.assert_frame_equal(before, detect(future, as_of="2022-12"))


def test_detect_one_month_of_every_series_well_under_a_second(southwest: pd.DataFrame) -> None:
    # ~540 series: four times the southwest ones, renamed.
    frame = pd.concat(
        [southwest.assign(unique_id=southwest["unique_id"] + f"#{k}") for k in range(4)],
        ignore_index=True,
    )
    detect(frame, as_of="2023-06")
    t = time.perf_counter()
    detect(frame, as_of="2023-06")
    assert time.perf_counter() - t < 0.5


@pytest.mark.slow
def test_month_by_month_replay_equals_one_pass_on_the_history(southwest: pd.DataFrame) -> None:
    months = pd.date_range("2021-01", "2024-11", freq="MS")
    stepwise = pd.concat(
        [new_events(southwest[southwest["ds"] <= m], as_of=m) for m in months], ignore_index=True
    )
    once = events_frame(episodes(southwest, as_of=months[-1]))
    once = once[once["ds"] >= months[0]].reset_index(drop=True)
    assert stepwise["event_id"].tolist() == once["event_id"].tolist()


@pytest.mark.slow
def test_defaults_meet_the_target_on_the_history(southwest: pd.DataFrame) -> None:
    report = evaluate(southwest, SurgeSettings(), "2012-01", "2024-12")
    assert report.n_surges > 50
    assert report.surges_caught_pct >= 95
    assert report.median_months_early >= 3
    assert report.alerts_real_pct >= 80
    assert report.months_on_pct <= 8


# --------------------------------------------------------------------------- signals


def test_flat_series_never_alerts() -> None:
    frame = pd.concat(
        [series([500.0] * 120, "AA:southwest:usbp"), series([0.0] * 120, "BB:southwest:usbp")],
        ignore_index=True,
    )
    assert detect(frame, since="2015-01", as_of="2024-12").empty
    assert episodes(frame) == []


def test_surge_signal_needs_ratio_minimum_and_recent_high() -> None:
    s = SurgeSettings()
    # From 100 to 250: a recent high above 2x the level and above the minimum.
    got = detect(series([100.0] * 24 + [250.0]), s)
    assert got[["kind", "severity"]].values.tolist() == [["surge", "watch"]]
    assert got["expected"].iloc[0] == pytest.approx(100)
    assert got["ratio"].iloc[0] == pytest.approx(2.5)
    # Below the minimum: 10 -> 60 is six times the level but only 60 encounters.
    assert detect(series([10.0] * 24 + [60.0]), s).empty
    # Below the recent high: 250 after a month of 300 is no new high.
    assert detect(series([100.0] * 20 + [300.0] + [100.0] * 3 + [250.0]), s).empty


def test_a_yearly_spring_peak_is_not_a_surge() -> None:
    # Every April triples a series of 100: above 2x its trailing level, but no higher than
    # the spring before. Without the seasonal test it would alert every year.
    values = [300.0 if m % 12 == 3 else 100.0 for m in range(120)]
    frame = series(values)
    assert detect(frame, since="2017-01", as_of="2024-12").empty
    assert not detect(frame, SurgeSettings(seasonal_ratio=1.0), since="2017-01").empty


def test_persistence_ignores_a_one_month_blip() -> None:
    blip = series([100.0] * 30 + [400.0] + [100.0] * 5)
    assert len(episodes(blip)) == 1
    assert episodes(blip, SurgeSettings(persistence=2)) == []
    lasting = series([100.0] * 30 + [400.0, 450.0])
    got = detect(lasting, SurgeSettings(persistence=2))
    assert got["ds"].tolist() == [pd.Timestamp("2017-08")]


def test_severity_grows_with_ratio_and_with_the_forecast_bound() -> None:
    s = SurgeSettings()
    assert detect(series([100.0] * 24 + [350.0]), s)["severity"].tolist() == ["warning"]
    assert detect(series([100.0] * 24 + [600.0]), s)["severity"].tolist() == ["critical"]
    frame = series([100.0] * 24 + [250.0])
    month = frame["ds"].iloc[-1]
    upper = pd.DataFrame({"unique_id": [frame["unique_id"].iloc[0]], "ds": [month]})
    graded = {
        bound: detect(frame, s, forecast_upper=upper.assign(upper=bound))["severity"].iloc[0]
        for bound in (400.0, 240.0, 150.0)
    }
    assert graded == {400.0: "watch", 240.0: "warning", 150.0: "critical"}


def test_a_drop_is_reported() -> None:
    got = detect(series([1000.0] * 24 + [80.0]))
    assert got[["kind", "severity"]].values.tolist() == [["drop", "critical"]]
    assert got["lower"].iloc[0] == pytest.approx(SurgeSettings().drop_ratio * 1000)
    # Too small a series to report its drop.
    assert detect(series([50.0] * 24 + [0.0])).empty


# --------------------------------------------------------------------------- episodes


SURGE = [100.0] * 24 + [250.0, 400.0, 700.0, 700.0, 650.0, 200.0, 100.0, 100.0] + [100.0] * 12


def test_an_episode_opens_once_escalates_and_resolves() -> None:
    frame = series(SURGE)
    (episode,) = episodes(frame)
    assert episode.kind == "surge"
    assert episode.opened == pd.Timestamp("2017-01")
    assert episode.severity_at_open == "watch"
    assert episode.peak_severity == "critical"
    assert episode.peak_observed == 700
    assert episode.resolved is not None
    assert episode.opened < episode.resolved <= pd.Timestamp("2017-09")
    actions = [e.action for e in episode.events]
    assert actions.count("open") == 1 and actions[-1] == "resolve"
    assert set(actions[1:-1]) == {"escalate"}
    # One notification per transition, never one per month of the same surge.
    assert len({e.event_id for e in episode.events}) == len(episode.events)
    months_open = (episode.resolved.to_period("M") - episode.opened.to_period("M")).n
    assert len(episode.events) < months_open


def test_a_drop_episode_opens_and_resolves() -> None:
    (episode,) = episodes(series([1000.0] * 24 + [100.0, 100.0, 800.0, 1000.0, 1000.0]))
    assert episode.kind == "drop"
    assert episode.opened == pd.Timestamp("2017-01")
    # 800 is back above drop_resolve_ratio (0.7) x the trailing median of 1000.
    assert episode.resolved == pd.Timestamp("2017-03")
    assert [e.action for e in episode.events] == ["open", "resolve"]


def test_a_lasting_rise_resolves_once_it_is_the_new_level() -> None:
    # 100 a month for two years, then 400 for three: the trailing level catches up, and the
    # episode ends once 400 is under resolve_ratio x the level, not "surging" for ever.
    frame = series([100.0] * 24 + [400.0] * 36)
    (episode,) = episodes(frame)
    assert episode.resolved is not None
    assert episode.resolved <= pd.Timestamp("2018-12")
    on = on_matrix(frame).iloc[:, 0]
    assert 0 < (on == "surge").sum() < 24
    assert (on.loc[episode.resolved :] == "").all()


def test_incremental_replay_equals_direct_replay() -> None:
    frame = noisy_panel(n_series=12, months=72, seed=3)
    months = pd.date_range("2012-01", frame["ds"].max(), freq="MS")
    sent: list[pd.DataFrame] = []
    previous = None
    for m in months:
        found = episodes(frame[frame["ds"] <= m], as_of=m)
        if previous is not None:
            # What was known at M is not rewritten at M + 1: every old event stays as it was.
            old = set(events_frame(previous)["event_id"])
            now = events_frame(found)
            assert old <= set(now["event_id"])
            assert (now.loc[~now["event_id"].isin(old), "ds"] == m).all()
        sent.append(new_events(frame, as_of=m))
        previous = found
    direct = episodes(frame, as_of=months[-1])
    assert previous == direct
    once = events_frame(direct)
    once = once[once["ds"] >= months[0]]
    stepwise = pd.concat(sent, ignore_index=True)
    assert len(stepwise) >= 8
    assert stepwise["event_id"].tolist() == once["event_id"].tolist()


# --------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"ratio": 0.9}, "ratio"),
        ({"window": 1}, "window"),
        ({"window": 12.5}, "window"),
        ({"minimum": -1}, "minimum"),
        ({"recent_high": 0}, "recent_high"),
        ({"warning_ratio": 1.5}, "warning_ratio"),
        ({"critical_ratio": 2.5}, "critical_ratio"),
        ({"upper_critical": 0.5}, "upper_critical"),
        ({"drop_ratio": 1.2}, "drop_ratio"),
        ({"drop_critical": 0.3}, "drop_critical"),
        ({"resolve_ratio": 3.0}, "resolve_ratio"),
        ({"resolve_months": 0}, "resolve_months"),
        ({"minimum": float("nan")}, "minimum"),
        ({"minimum": "lots"}, "minimum"),
        ({"use_indicators": 1}, "use_indicators"),
        ({"use_indicators": "yes"}, "use_indicators"),
        ({"indicator_window": 0}, "indicator_window"),
        ({"indicator_ratio": 1.0}, "indicator_ratio"),
        ({"indicator_minimum": -1}, "indicator_minimum"),
    ],
)
def test_bad_settings_name_the_field(values: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=f"'{field}'"):
        SurgeSettings.from_mapping(values)


def test_unknown_setting_is_named() -> None:
    with pytest.raises(ConfigError, match="'ratoi'"):
        SurgeSettings.from_mapping({"ratoi": 2})


def test_settings_round_trip() -> None:
    s = SurgeSettings(ratio=2.5, window=6)
    assert SurgeSettings.from_mapping(s.as_dict()) == s


# --------------------------------------------------------------------------- replay


def test_ground_truth_onsets_are_recurring_and_need_a_quiet_year() -> None:
    values = [100.0] * 36 + [400.0] * 12 + [100.0] * 30 + [400.0] * 12
    onsets = surge_onsets(series(values, start="2010-01"), "2010-01", "2020-12")
    # Two surges a few years apart; the long first one counts once.
    assert onsets["onset"].dt.year.tolist() == [2013, 2016]


def test_evaluate_scores_a_caught_surge_and_a_false_alarm() -> None:
    surge = series([100.0] * 36 + [250.0, 400.0, 700.0] + [700.0] * 12, "AA:southwest:usbp")
    blip = series([100.0] * 36 + [300.0] + [100.0] * 14, "BB:southwest:usbp")
    frame = pd.concat([surge, blip], ignore_index=True)
    report = evaluate(frame, SurgeSettings(), "2010-01", "2019-12")
    assert report.n_surges == 1 and report.surges_caught_pct == 100
    assert report.median_months_early >= 0
    # Two alerts: the surge's (real) and the one-month blip's (not real).
    assert report.n_alerts == 2 and report.alerts_real_pct == 50
    assert 0 < report.months_on_pct < 20


def test_one_step_upper_is_causal() -> None:
    frame = series([100.0] * 30 + [5000.0])
    upper = one_step_upper(frame).set_index("ds")["upper"]
    assert upper.iloc[-1] == pytest.approx(100.0)
