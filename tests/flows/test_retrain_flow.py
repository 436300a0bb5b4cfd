"""The retrain flow over the real forecasting.training."""

from __future__ import annotations

import pytest

from flows import library as lib
from flows.pipeline import BACKTESTS_KEY, ingest, retrain
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
