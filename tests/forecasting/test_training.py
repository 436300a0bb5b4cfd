"""Training, the registry and forecasts on a real CBP release."""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from forecasting import training, vintages
from forecasting.errors import ArtifactTampered, ConfigError, NoModel
from forecasting.forecasts import get_backtest, get_forecast
from forecasting.ingest import ingest
from forecasting.registry import Registry
from forecasting.settings import Settings
from forecasting.store import Store
from forecasting.training import plan, plan_at, train, train_one
from forecasting.vintages import Config, loaded_plan
from tests.conftest import CBP_SW
from tests.factories import SW_HEADER, sw_row, write_csv

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, dict]:
    root = tmp_path_factory.mktemp("training")
    mp = pytest.MonkeyPatch()
    mp.setenv("BORDERCAST_MODEL_DIR", str(root / "models"))
    from forecasting.settings import get_settings

    get_settings.cache_clear()
    store = Store(f"sqlite:///{root / 'train.db'}")
    ingest(store, str(CBP_SW))
    summary = train(store, workers=2)
    yield store, summary
    mp.undo()
    get_settings.cache_clear()


def test_every_reported_series_is_trained_and_forecast(trained) -> None:  # type: ignore[no-untyped-def]
    store, summary = trained
    assert summary["failed"] == {}
    assert summary["trained"] == len({s.unique_id for s in store.series()})
    found = get_forecast(store, "Mexico", "southwest", "usbp", horizon=12, level=95)
    assert found["as_of"] == "2025-08"
    assert [r["month"] for r in found["forecast"]][:2] == ["2025-09", "2025-10"]
    assert all(r["lower"] <= r["mean"] <= r["upper"] for r in found["forecast"])
    metrics = found["model"]["metrics"]["series"]
    assert {"rw", "snaive", "bordercast"} <= set(metrics)


def test_backtest_is_published_with_the_baselines(trained) -> None:  # type: ignore[no-untyped-def]
    store, _ = trained
    found = get_backtest(store, "GT", "southwest", "all")
    assert found["chosen"] in found["models"]
    assert {"h1", "h6", "all"} <= set(found["models"]["rw"])
    assert found["models"]["rw"]["all"]["rel_mae"] == 1.0


def test_a_tampered_artifact_is_refused(trained) -> None:  # type: ignore[no-untyped-def]
    store, _ = trained
    registry = Registry(store, Settings().model_dir)
    version = registry.current("HN:southwest:ofo")
    path = Path(version.artifact_path)
    original = path.read_bytes()
    try:
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        with pytest.raises(ArtifactTampered, match="does not match"):
            get_forecast(store, "HN", "southwest", "ofo", horizon=18)
    finally:
        path.write_bytes(original)
    assert len(get_forecast(store, "HN", "southwest", "ofo", horizon=18)["forecast"]) == 18


def test_as_of_the_cutoff_is_the_stored_forecast(trained) -> None:  # type: ignore[no-untyped-def]
    """Training keeps its plan: an as-of forecast of its month is the served one, metrics too."""
    store, summary = trained
    served = get_forecast(store, "GT", "southwest", "all", horizon=12, level=95)
    then = get_forecast(
        store, "GT", "southwest", "all", horizon=12, level=95, as_of=summary["cutoff"]
    )
    assert then["model"]["exact"] is True
    assert then["forecast"] == served["forecast"]
    assert (then["model"]["kind"], then["model"]["metrics"]) == (
        served["model"]["kind"],
        served["model"]["metrics"],
    )


def test_a_kept_plan_is_refused_when_its_file_changed(trained) -> None:  # type: ignore[no-untyped-def]
    store, summary = trained
    kept = sorted((Settings().model_dir / "vintages").glob(f"{summary['cutoff']}-default/*.joblib"))
    original = kept[-1].read_bytes()
    try:
        kept[-1].write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        with pytest.raises(ArtifactTampered, match="does not match"):
            get_forecast(store, "GT", "southwest", "all", as_of=summary["cutoff"])
    finally:
        kept[-1].write_bytes(original)


def test_a_kept_plan_and_its_months_data_are_read_once_per_process(trained, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Many series asked as of one month load its plan and read its data once.

    The answers are those of a fresh read, and a write to the store (here a
    kept plan of another month) reads the month's data again.
    """
    store, summary = trained
    cutoff = summary["cutoff"]
    loaded_plan.cache_clear()
    training._month_frames.clear()  # earlier tests read this month
    real_load, loads = vintages.load_verified, []
    real_read, reads = store.series_frame, []

    def load(path, *args, **kwargs):  # type: ignore[no-untyped-def]
        loads.append(Path(path).parent.name)
        return real_load(path, *args, **kwargs)

    def read(*args, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(kwargs.get("as_of"))
        return real_read(*args, **kwargs)

    monkeypatch.setattr(vintages, "load_verified", load)
    monkeypatch.setattr(store, "series_frame", read)
    ask = {"horizon": 6, "level": 80, "as_of": cutoff}
    answers = [get_forecast(store, c, "southwest", "all", **ask) for c in ("GT", "MX", "GT")]
    assert loads == [f"{cutoff}-default"] and reads.count(cutoff) == 1
    assert answers[0] == answers[2]
    expected = copy.deepcopy(answers[2])
    for figures in answers[0]["model"]["metrics"]["series"].values():
        figures["rel_mae"] = -1.0  # what a caller does to its answer reaches no later one
    assert get_forecast(store, "GT", "southwest", "all", **ask) == expected
    loaded_plan.cache_clear()  # a fresh load answers the same
    assert get_forecast(store, "MX", "southwest", "all", **ask) == answers[1]
    assert len(loads) == 2
    before = reads.count(cutoff)
    plan_at(store, "2025-06", Config(), build=True)  # a write readers see
    assert get_forecast(store, "MX", "southwest", "all", **ask) == answers[1]
    assert reads.count(cutoff) == before + 1


def test_an_as_of_plan_is_built_once_and_not_used_once_its_months_are_revised(
    settings_env, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    store = Store(settings_env.database_url)
    ingest(store, str(CBP_SW))
    ask = {"horizon": 3, "as_of": "2025-02"}
    quick = get_forecast(store, "MX", "southwest", "usbp", **ask)
    assert quick["model"]["exact"] is False
    assert "`bordercast backfill --from 2025-02`" in quick["message"]
    before = store.generation()
    built = get_forecast(store, "MX", "southwest", "usbp", build=True, **ask)
    assert store.generation() != before  # the service's caches let go of the quick answer
    assert built["model"]["exact"] is True
    assert built["model"]["data_cutoff"] == "2025-02"
    assert {"rw", "snaive"} <= set(built["model"]["metrics"]["series"])
    assert [r["month"] for r in built["forecast"]] == ["2025-03", "2025-04", "2025-05"]
    assert get_forecast(store, "MX", "southwest", "usbp", **ask) == built
    shutil.rmtree(settings_env.model_dir / "vintages")  # a cleared model dir: a miss, not a crash
    assert get_forecast(store, "MX", "southwest", "usbp", **ask)["model"]["exact"] is False
    assert get_forecast(store, "MX", "southwest", "usbp", build=True, **ask) == built
    later = [sw_row("2025 (FYTD)", "SEP", "U.S. Border Patrol", "Mexico", 90000)]
    ingest(store, str(write_csv(tmp_path / "later.csv", SW_HEADER, later)))
    assert get_forecast(store, "MX", "southwest", "usbp", **ask) == built
    # a newer release (through September) that revises January
    revised = [*later, sw_row("2025 (FYTD)", "JAN", "U.S. Border Patrol", "Mexico", 5)]
    ingest(store, str(write_csv(tmp_path / "revised.csv", SW_HEADER, revised)))
    assert get_forecast(store, "MX", "southwest", "usbp", **ask)["model"]["exact"] is False


def test_as_of_forecast_ignores_later_data(trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store, _ = trained
    before = get_forecast(store, "MX", "southwest", "usbp", horizon=3, as_of="2025-06")
    later = write_csv(
        tmp_path / "later.csv",
        SW_HEADER,
        [
            sw_row("2025 (FYTD)", "SEP", "U.S. Border Patrol", "Mexico", 90000),
            sw_row("2025 (FYTD)", "SEP", "Office of Field Operations", "Mexico", 10),
        ],
    )
    ingest(store, str(later))
    after = get_forecast(store, "MX", "southwest", "usbp", horizon=3, as_of="2025-06")
    assert before["forecast"] == after["forecast"]
    assert before["as_of"] == "2025-06"


def test_bad_parameters_are_named(trained) -> None:  # type: ignore[no-untyped-def]
    store, _ = trained
    with pytest.raises(ConfigError, match="level must be one of 80, 95"):
        get_forecast(store, "MX", "southwest", "usbp", level=90)
    with pytest.raises(ConfigError, match="horizon"):
        get_forecast(store, "MX", "southwest", "usbp", horizon=0)


def test_a_failing_series_is_reported_and_the_rest_finish(trained) -> None:  # type: ignore[no-untyped-def]
    store, _ = trained
    the_plan = plan(store, ["MX:southwest:usbp"])
    broken = the_plan.frame.copy()
    broken.loc[broken["unique_id"] == "MX:southwest:usbp", "y"] = -1.0
    the_plan.frame = broken
    assert not train_one(the_plan, "MX:southwest:usbp").ok
    assert train_one(the_plan, "GT:southwest:usbp").ok


def test_no_model_before_training(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'empty.db'}")
    ingest(store, str(CBP_SW))
    with pytest.raises(NoModel, match="MX:southwest:usbp"):
        get_forecast(store, "MX", "southwest", "usbp")


def test_training_runs_in_a_process_that_has_loaded_a_plan(tmp_path: Path) -> None:
    """A kept plan holds LightGBM trees; loading one starts OpenMP, and a child forked from
    that process hung unpickling the next plan (seen in CI). Run in a child with a timeout,
    so a regression fails here instead of hanging the suite."""
    script = f"""
from forecasting.forecasts import get_forecast
from forecasting.ingest import ingest
from forecasting.store import Store
from forecasting.training import train
store = Store("sqlite:///{tmp_path / "fork.db"}")
ingest(store, "{CBP_SW}")
cutoff = train(store, workers=2)["cutoff"]
assert get_forecast(store, "MX", "southwest", "usbp", as_of=cutoff)["model"]["exact"]
print("retrained", train(store, workers=2)["trained"])
"""
    env = {**os.environ, "BORDERCAST_MODEL_DIR": str(tmp_path / "models")}
    try:
        done = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
        )
    except subprocess.TimeoutExpired:
        pytest.fail("training after loading a plan did not finish in 300 s (fork deadlock)")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "retrained" in done.stdout
