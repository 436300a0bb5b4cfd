"""Training with transit indicators: each southwest series with and without them, chosen.

On the two bundled CBP state releases and the three transit files, as a user
runs it (``bordercast train`` / ``forecast`` in their own processes).
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from forecasting import models, training
from forecasting.indicators import indicator_frame
from forecasting.ingest import ingest
from forecasting.leading import Leading, citizenship_indicators
from forecasting.store import Store
from forecasting.training import TrainingPlan, served_at
from tests.conftest import CBP_STATE_NEW, CBP_STATE_OLD, DATA


def _plan(origin_globals: dict[pd.Timestamp, object]) -> TrainingPlan:
    return TrainingPlan(
        frame=pd.DataFrame(),
        cutoff=max(origin_globals),
        data_hash="",
        series_ids=[],
        stopped=[],
        chosen="bordercast",
        global_model=origin_globals[max(origin_globals)],
        calibration=None,  # type: ignore[arg-type]  # not used by served_at
        events=None,
        summary={},
        origin_globals=origin_globals,
    )


def test_a_past_origin_never_gets_a_later_global_model() -> None:
    first, second, cutoff = (pd.Timestamp(m) for m in ("2024-01-01", "2024-04-01", "2024-10-01"))
    # stand-ins for fitted global models, told apart by identity
    fitted = {c: SimpleNamespace(coef_=[0.0]) for c in (first, second, cutoff)}
    plan = _plan(fitted)
    assert served_at(plan, pd.Timestamp("2023-12-01")).global_model is None
    assert served_at(plan, first).global_model is fitted[first]
    assert served_at(plan, pd.Timestamp("2024-03-01")).global_model is fitted[first]
    assert served_at(plan, pd.Timestamp("2024-09-01")).global_model is fitted[second]
    assert served_at(plan, cutoff).global_model is fitted[cutoff]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    db = tmp_path_factory.mktemp("train-indicators") / "store.db"
    store = Store(f"sqlite:///{db}")
    for path in (CBP_STATE_OLD, CBP_STATE_NEW, *sorted((DATA / "transit").glob("*.csv"))):
        ingest(store, str(path))
    return db


def test_leading_refits_the_model_without_as_of_each_origin(store_path: Path) -> None:
    store = Store(f"sqlite:///{store_path}")
    history = store.series_frame(["CN:southwest:all"])
    history = history[history["ds"] <= "2024-06-01"].reset_index(drop=True)
    indicators = citizenship_indicators(indicator_frame(store), "CN")
    seen: list[pd.Timestamp] = []

    def without(cutoff: pd.Timestamp) -> models.LogModel:
        seen.append(cutoff)
        return models.RandomWalk()

    model = Leading(indicators, without=without, n_origins=12).fit(history)
    end = pd.Timestamp("2024-06-01")
    assert max(seen) == end and sorted(set(seen))[:-1] == [
        end - pd.DateOffset(months=k) for k in range(14, 0, -1)
    ]
    scores = model.metadata["scores"][1]
    assert scores["n_blend"] > 0 and scores["blend_rel_mae"] is not None
    assert scores["without_rel_mae"] == pytest.approx(1.0)  # the random walk against itself
    assert model.chosen_name == "rw+indicators"
    darien = model.metadata["indicators"]["panama-darien:CN"]
    assert darien["last_month"] == "2024-06" and darien["lag_months"] == 0
    restored = pickle.loads(pickle.dumps(model))
    assert restored.without is None  # the factory (every origin's global model) is not kept
    pd.testing.assert_frame_equal(restored.predict(3), model.predict(3))


def test_training_backtests_each_past_origin_with_the_model_of_that_origin(
    store_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(f"sqlite:///{store_path}")
    frame = store.series_frame(["CN:southwest:all", "CN:northern:all"])
    plan = _plan({pd.Timestamp("2025-11-01"): SimpleNamespace(coef_=[0.0])})
    plan.indicators = indicator_frame(store)
    plan.chosen = "rw"  # the model without indicators, served(plan), is then the random walk
    asked: list[pd.Timestamp] = []

    def recorded(the_plan: TrainingPlan, cutoff: pd.Timestamp) -> models.LogModel:
        asked.append(cutoff)
        return models.RandomWalk()

    monkeypatch.setattr(training, "served_at", recorded)
    northern = frame[frame["unique_id"] == "CN:northern:all"]
    assert not isinstance(training.fitted_model(plan, "CN:northern:all", northern), Leading)
    assert asked == []  # no indicators outside the southwest
    southwest = frame[frame["unique_id"] == "CN:southwest:all"]
    model = training.fitted_model(plan, "CN:southwest:all", southwest)
    assert isinstance(model, Leading)
    end = southwest["ds"].max()
    # each of the 26 months before the last, and the last
    assert max(asked) == end and len(set(asked)) == 27
    assert min(asked) == end - pd.DateOffset(months=26)


def bordercast(
    tmp: Path, store_path: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    """``bordercast *args`` on the store; ``env`` adds settings (and no inherited one leaks in)."""
    environ = {k: v for k, v in os.environ.items() if k != "BORDERCAST_TRAIN_INDICATORS"}
    environ |= {
        "BORDERCAST_DATABASE_URL": f"sqlite:///{store_path}",
        "BORDERCAST_MODEL_DIR": str(tmp / "models"),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-m", "bordercast", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.slow
def test_the_setting_trains_with_indicators_and_the_flag_turns_them_off(
    store_path: Path, tmp_path: Path
) -> None:
    series = ["--series", "CN:southwest:all", "--series", "CN:northern:all"]
    on = {"BORDERCAST_TRAIN_INDICATORS": "true"}
    bordercast(tmp_path, store_path, "train", *series, "--workers", "1", "--json", **on)
    sw = json.loads(
        bordercast(tmp_path, store_path, "forecast", "CN", "--region", "southwest", "--json").stdout
    )
    assert sw["model"]["kind"].endswith("+indicators")
    meta = sw["model"]["metrics"]["indicators"]
    assert set(meta["choice"]) == {"h1", "h2", "h3"}
    assert set(meta["choice"].values()) <= {"blend", "relay", "without"}
    assert meta["as_of"] == "2025-11"
    assert {"blend_rel_mae", "relay_rel_mae", "without_rel_mae", "blend_vs_without"} <= set(
        meta["scores"]["h1"]
    )
    assert meta["scores"]["h1"]["n_blend"] >= 6  # months when the indicators were still reported
    # every transit file ends in 2025-04: by 2025-11 the indicators count as stopped
    assert meta["indicators"] == {} and meta["relay"] == {}
    northern = json.loads(
        bordercast(tmp_path, store_path, "forecast", "CN", "--region", "northern", "--json").stdout
    )
    assert "indicators" not in northern["model"]["metrics"]  # indicators are southwest only

    bordercast(tmp_path, store_path, "train", *series, "--no-indicators", "--workers", "1", **on)
    again = json.loads(
        bordercast(tmp_path, store_path, "forecast", "CN", "--region", "southwest", "--json").stdout
    )
    assert again["model"]["version"] > sw["model"]["version"]
    assert "indicators" not in again["model"]["metrics"]
    assert not again["model"]["kind"].endswith("+indicators")
    # stopped indicators change nothing: the same forecast as without them
    assert again["forecast"] == sw["forecast"]
