"""Scenario forecasts on a transit indicator path, on the bundled OHSS and transit data.

China's southwest USBP series ends in 2024-11 in the workbook, where the
Darién count (82) is public with CBP's month and leads the encounters by one
month: a cut from 2024-12 can first move 2025-01.
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
    PathModel,
    carried,
    indicator_scenario,
    parse_edit,
    parse_edits,
)
from forecasting.indicators import indicator_frame
from forecasting.ingest import ingest
from forecasting.leading import IndicatorModel, citizenship_indicators, known_at
from forecasting.store import Store
from forecasting.training import contiguous
from tests.conftest import WORKBOOK, workbook_and_transit

CN_SW = ("CN", "southwest", "usbp")
DARIEN_CUT = {"source": "panama-darien", "change_pct": -90}


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return workbook_and_transit(tmp_path_factory.mktemp("indicator-scenarios"))


def effect(store: Store, *edits: dict[str, Any], horizon: int = 6) -> dict[str, Any]:
    return indicator_scenario(store, *CN_SW, list(edits), horizon=horizon)


def changes(answer: dict[str, Any]) -> list[float]:
    return [e["log_change"] for e in answer["effect"]]


# -- the stepped model is the indicator model ---------------------------------------------


def test_path_features_are_the_indicator_models_features(store: Store) -> None:
    history = contiguous(store.series_frame(["CN:southwest:usbp"]))[["ds", "y"]]
    origin = history["ds"].iloc[-1]
    known = known_at(citizenship_indicators(indicator_frame(store, "CN"), "CN"), origin)
    model = PathModel(known).fit(history)
    assert set(model.used_) == {"panama-darien:CN", "mexico-irregular:CN", "entries-ECU:CN"}
    paths = {
        str(u): pd.Series(p["y"].to_numpy(), index=pd.DatetimeIndex(p["ds"]))
        for u, p in known.groupby("unique_id")
    }
    reference = IndicatorModel(known)
    reference.fit(history)
    expected = reference._features(model.z_, model.ds_)
    np.testing.assert_allclose(model.columns(model.z_, model.ds_, paths), expected)
    # the first step is the indicator model's own one-month forecast
    assert model.path_log(paths, 1)[0] == pytest.approx(reference.point_log(1)[0])


# -- what a path does ---------------------------------------------------------------------


def test_darien_cut_from_next_month_lowers_the_months_after_its_lead(store: Store) -> None:
    answer = effect(store, DARIEN_CUT)
    darien = answer["indicators"][0]
    assert answer["as_of"] == "2024-11"
    assert (darien["id"], darien["from"], darien["last_published"]) == (
        "panama-darien:CN",
        "2024-12",
        "2024-11",
    )
    assert darien["lead_months"] == 1 and darien["lag_months"] == 0
    assert darien["correlation"] > 0.5 and darien["used"] and darien["note"] == ""
    assert [p["scenario"] for p in darien["path"]] == [8.2] * 6
    assert [p["carried"] for p in darien["path"]] == [82.0] * 6
    delta = changes(answer)
    assert [e["month"] for e in answer["effect"]][:2] == ["2024-12", "2025-01"]
    assert delta[0] == 0.0  # December's encounters cannot see December's Darién count
    assert all(d < -0.1 for d in delta[1:])
    assert darien["effect"] == answer["effect"]


def test_no_change_moves_nothing(store: Store) -> None:
    answer = effect(store, {"source": "panama-darien", "change_pct": 0}, horizon=12)
    assert changes(answer) == [0.0] * 12


def test_a_later_start_moves_only_the_months_it_can_reach(store: Store) -> None:
    delta = changes(effect(store, {**DARIEN_CUT, "from": "2025-02"}))
    assert delta[:3] == [0.0, 0.0, 0.0]  # 2024-12 .. 2025-02
    assert all(d < -0.1 for d in delta[3:])


def test_explicit_values_carry_forward(store: Store) -> None:
    same = effect(store, {"source": "panama-darien", "values": {"2025-01": 82}})
    assert changes(same) == [0.0] * 6
    cut = effect(store, {"source": "panama-darien", "values": {"2025-01": 8.2}})
    path = cut["indicators"][0]["path"]
    assert [p["scenario"] for p in path] == [82.0, 8.2, 8.2, 8.2, 8.2, 8.2]
    assert changes(cut)[:2] == [0.0, 0.0] and all(d < -0.1 for d in changes(cut)[2:])
    np.testing.assert_allclose(changes(cut)[2:], changes(effect(store, DARIEN_CUT))[1:5])


def test_mexico_counts_only_once_published(store: Store) -> None:
    """Mexico's month M is public a month after CBP's: its October is the last one known."""
    answer = effect(store, {"source": "mexico-irregular", "change_pct": -90})
    mexico = answer["indicators"][0]
    assert (mexico["last_published"], mexico["from"], mexico["lag_months"]) == (
        "2024-10",
        "2024-11",
        1,
    )
    delta = changes(answer)
    assert delta[0] == 0.0 and all(d < 0 for d in delta[1:])


def test_paths_of_two_sources_are_reported_alone_and_together(store: Store) -> None:
    answer = effect(store, DARIEN_CUT, {"source": "entries-ECU", "change_pct": -50})
    alone = [changes({"effect": i["effect"]}) for i in answer["indicators"]]
    np.testing.assert_allclose(changes(answer), np.sum(alone, axis=0), atol=1e-6)
    assert alone[0] == changes(effect(store, DARIEN_CUT))


def test_an_indicator_the_model_does_not_read_has_no_effect(store: Store) -> None:
    answer = indicator_scenario(
        store, "EC", "southwest", "usbp", [{"source": "entries-ECU", "change_pct": -90}]
    )
    entry = answer["indicators"][0]
    assert not entry["used"]
    assert "not used by the indicator model" in entry["note"]
    assert changes(answer) == [0.0] * 12


# -- refusals -----------------------------------------------------------------------------


def test_a_citizenship_without_the_indicator_is_refused_by_name(store: Store) -> None:
    with pytest.raises(UnknownSeries, match=r"Canada \(CA\) has no panama-darien series"):
        indicator_scenario(store, "CA", "southwest", "usbp", [DARIEN_CUT])


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
    store: Store, raw: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        effect(store, raw)


def test_carried_keeps_the_record_and_repeats_the_last_count() -> None:
    series = pd.Series([5.0, 7.0], index=pd.to_datetime(["2024-01-01", "2024-02-01"]))
    out = carried(series, pd.Timestamp("2024-04-01"))
    assert out.tolist() == [5.0, 7.0, 7.0, 7.0]
    assert parse_edit({"source": "entries-ECU", "change_pct": -100}).change_pct == -100.0


def test_refused_before_any_model_is_needed(store: Store) -> None:
    """The store has no trained model: the missing indicator is the error, not NoModel."""
    with pytest.raises(UnknownSeries, match=r"Canada \(CA\)"):
        scenario_forecast(store, "CA", "southwest", "usbp", indicators=[DARIEN_CUT])


# -- on the served forecast (trains China's series) ---------------------------------------


@pytest.fixture(scope="module")
def trained(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    from forecasting.forecasts import retrain
    from forecasting.settings import get_settings

    models = tmp_path_factory.mktemp("indicator-scenario-models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BORDERCAST_MODEL_DIR", str(models))
        get_settings.cache_clear()
        retrain(store, ["CN:southwest:usbp"])
        yield store
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
