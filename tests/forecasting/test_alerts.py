"""Alerts from the real history: stored once per episode, notified once per transition."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from forecasting.alerts import detect_as_of, list_alerts, run_detection
from forecasting.ingest import ingest
from forecasting.notify import create_subscription, list_outbox
from forecasting.schema import alerts
from forecasting.store import Store
from tests.conftest import WORKBOOK


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('alerts') / 'history.db'}"
    ingest(Store(url), str(WORKBOOK))
    return url


def test_china_2022_surge_is_flagged_within_2022(history: str) -> None:
    found = detect_as_of(Store(history), "2022-12", citizenship="CN", region="southwest")
    surge = next(a for a in found["alerts"] if a["kind"] == "surge")
    assert found["as_of"] == "2022-12"
    assert surge["opened"] <= "2022-12"
    assert surge["observed"] == 930
    assert surge["status"] in {"open", "escalated"}
    assert surge["severity"] in {"warning", "critical"}


def test_replay_uses_only_the_data_up_to_as_of(history: str) -> None:
    before = detect_as_of(Store(history), "2021-12", citizenship="CN", region="southwest")
    assert not [a for a in before["alerts"] if a["kind"] == "surge"]


def test_replay_writes_nothing(history: str) -> None:
    store = Store(history)
    detect_as_of(store, "2022-12")
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(alerts)).scalar_one() == 0


@pytest.mark.slow
def test_monthly_run_notifies_each_transition_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'run.db'}"
    store = Store(url)
    ingest(store, str(WORKBOOK))
    with store.engine.begin() as conn:
        create_subscription(
            conn, {"channel": "email", "target": "desk@example.org", "citizenships": ["CN"]}
        )
    months = ["2022-03", "2022-04", "2022-05", "2022-06", "2022-07"]
    runs = [run_detection(store, m, notify=True) for m in months]
    opened = [a["id"] for r in runs for a in r["opened"] if a["citizenship"]["code"] == "CN"]
    assert "CN:southwest:usbp/surge/2022-04" in opened
    run_detection(store, "2022-07", notify=True)  # the same month twice queues nothing new
    with store.engine.connect() as conn:
        queued = [e for e in list_outbox(conn) if e.alert_id.startswith("CN:southwest:usbp")]
    transitions = sorted(e.transition for e in queued)
    assert transitions.count("opened") == 1
    assert len(queued) == len({e.event_id for e in queued})
    stored = list_alerts(store, citizenship="CN", region="southwest", component="usbp")
    assert stored[0]["id"] == "CN:southwest:usbp/surge/2022-04"


def test_cli_detect_json_has_the_documented_shape(history: str) -> None:
    env = {**os.environ, "BORDERCAST_DATABASE_URL": history}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bordercast",
            "detect",
            "--as-of",
            "2022-12",
            "--citizenship",
            "China",
            "--region",
            "southwest",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["as_of"] == "2022-12"
    assert set(data["alerts"][0]) == {
        "id",
        "citizenship",
        "region",
        "component",
        "month",
        "opened",
        "kind",
        "severity",
        "observed",
        "expected",
        "lower",
        "upper",
        "status",
    }
