"""The retrain flow over the real forecasting.training."""

from __future__ import annotations

import pytest

from flows import library as lib
from flows.pipeline import BACKFILL_KEY, BACKTESTS_KEY, backfill, ingest, retrain
from tests.conftest import CBP_SW
from tests.flows.conftest import artifacts, task_runs

pytestmark = pytest.mark.slow


def test_every_series_is_trained_in_batches_and_a_failure_is_listed(flow_env, monkeypatch):  # type: ignore[no-untyped-def]
    import forecasting.training as training

    assert ingest(sources=[str(CBP_SW)], return_state=True).is_completed()
    real = training.train_one
    ids = list(training.plan(lib.open_store(flow_env.database_url)).series_ids)[:4]
    broken = ids[0]

    def train_one(plan, unique_id):  # type: ignore[no-untyped-def]
        if unique_id == broken:
            raise RuntimeError("injected failure")
        return real(plan, unique_id)

    monkeypatch.setattr(training, "train_one", train_one)
    state = retrain(series_ids=ids, batch_size=2, return_state=True)
    assert state.is_completed(), state.message  # one failed series does not fail the run
    result = state.result()
    assert result["failed"] == [broken] and result["trained"] == len(ids) - 1

    flow_run_id = state.state_details.flow_run_id
    names = [t["name"] for t in task_runs(flow_run_id) if t["name"].startswith("train")]
    assert len(names) == 2  # batches of two
    (table,) = artifacts(flow_run_id, BACKTESTS_KEY)
    assert broken in table["data"] and "injected failure" in table["data"]
    assert "rw rel_mae" in table["data"]  # the baseline beside every model


def test_backfill_keeps_one_plan_per_month_and_reruns_find_them(flow_env):  # type: ignore[no-untyped-def]
    from forecasting.forecasts import get_forecast

    assert ingest(sources=[str(CBP_SW)], return_state=True).is_completed()
    state = backfill(first="2025-01", last="2025-02", return_state=True)
    assert state.is_completed(), state.message
    assert [(d["month"], d["status"]) for d in state.result()] == [
        ("2025-01", "built"),
        ("2025-02", "built"),
    ]
    flow_run_id = state.state_details.flow_run_id
    names = sorted(t["name"] for t in task_runs(flow_run_id))
    assert names == ["keep plan 2025-01", "keep plan 2025-02"]
    (table,) = artifacts(flow_run_id, BACKFILL_KEY)
    assert "2025-02" in table["data"] and "built" in table["data"]
    store = lib.open_store(flow_env.database_url)
    then = get_forecast(store, "MX", "southwest", "usbp", horizon=2, as_of="2025-02")
    assert then["model"]["exact"] is True
    again = backfill(first="2025-02", return_state=True).result()
    assert [(d["month"], d["status"]) for d in again] == [("2025-02", "kept")]
    refused = backfill(first="2025-03", last="2025-01", return_state=True)
    assert refused.is_failed() and "before first month 2025-03" in refused.message
