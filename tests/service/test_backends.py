"""The routes on the real library functions that are still being written.

Each group is skipped with the module it needs; the lead turns a group on by
deleting its skip marker once ``service/backend.py`` is wired to the real
function. They train real models, so they are ``slow``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forecasting.ingest import ingest
from forecasting.store import Store
from service import backend
from service.app import create_app
from tests.conftest import WORKBOOK

pytestmark = pytest.mark.slow

CN_SW = {"region": "southwest", "component": "usbp"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The workbook, with China's series trained through the library's own retrain."""
    from forecasting.settings import get_settings

    path: Path = tmp_path_factory.mktemp("trained")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BORDERCAST_MODEL_DIR", str(path / "models"))
        get_settings.cache_clear()
        store = Store(f"sqlite:///{path / 'trained.db'}")
        ingest(store, str(WORKBOOK))
        backend.retrain(store, ["CN:southwest:usbp", "CN:all:usbp"])
        yield store
    get_settings.cache_clear()


@pytest.fixture
def client(trained: Store) -> Iterator[TestClient]:
    with TestClient(create_app(trained)) as test_client:
        yield test_client


def cli(store: Store, *args: str) -> object:
    env = {**os.environ, "BORDERCAST_DATABASE_URL": store.url}
    done = subprocess.run(
        [sys.executable, "-m", "bordercast", *args, "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=True,
    )
    return json.loads(done.stdout)


def test_forecast_is_what_the_cli_prints(client: TestClient, trained: Store) -> None:
    served = client.get("/v1/forecasts/china", params=CN_SW)
    assert served.status_code == 200, served.text
    printed = cli(trained, "forecast", "CN", "--region", "southwest", "--component", "usbp")
    assert served.json() == printed


def test_forecast_as_of_uses_only_the_data_through_it(client: TestClient) -> None:
    body = client.get("/v1/forecasts/CN", params={**CN_SW, "as_of": "2022-12"}).json()
    assert body["as_of"] == "2022-12"
    assert body["forecast"][0]["month"] == "2023-01"


def test_backtest_is_published_with_the_baselines(client: TestClient) -> None:
    answer = client.get("/v1/backtests/CN", params=CN_SW)
    assert answer.status_code == 200, answer.text
    text = answer.text.lower()
    assert "mase" in text and "naive" in text


def test_scenario_answers_beside_the_baseline(client: TestClient) -> None:
    answer = client.post(
        "/v1/scenarios",
        json={"citizenship": "CN", **CN_SW, "remove_event_ids": ["china-reopening"]},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    baseline = client.get("/v1/forecasts/CN", params=CN_SW).json()
    assert body["baseline"]["forecast"] == baseline["forecast"]
    assert "china-reopening" not in [e.get("id") for e in body["events"]]


def test_scenario_with_an_unknown_event_id_is_422(client: TestClient) -> None:
    answer = client.post(
        "/v1/scenarios", json={"citizenship": "CN", **CN_SW, "remove_event_ids": ["no-such"]}
    )
    assert answer.status_code == 422
    assert "no-such" in answer.json()["detail"]


def test_retrain_route_publishes_a_new_version(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BORDERCAST_API_KEY", "k" * 20)
    from forecasting.settings import get_settings

    get_settings.cache_clear()
    headers = {"X-API-Key": "k" * 20}
    before = client.get("/v1/forecasts/CN", params=CN_SW).json()["model"]["version"]
    job = client.post("/v1/admin/retrain", headers=headers, json={"series": ["CN:southwest:usbp"]})
    assert job.status_code == 202
    for _ in range(1200):
        status = client.get(f"/v1/admin/retrain/{job.json()['id']}", headers=headers).json()
        if status["status"] in ("succeeded", "failed"):
            break
        time.sleep(0.5)
    assert status["status"] == "succeeded", status
    after = client.get("/v1/forecasts/CN", params=CN_SW).json()["model"]["version"]
    assert after != before
    get_settings.cache_clear()


def test_alerts_as_of_are_what_detect_prints(client: TestClient, trained: Store) -> None:
    served = client.get(
        "/v1/alerts", params={"as_of": "2022-12", "citizenship": "CN", "region": "southwest"}
    )
    assert served.status_code == 200, served.text
    printed = cli(trained, "detect", "--as-of", "2022-12", "--citizenship", "CN")
    assert served.json()["as_of"] == printed["as_of"]  # type: ignore[index]
    southwest = [a for a in printed["alerts"] if a["region"] == "southwest"]  # type: ignore[index]
    assert served.json()["alerts"] == southwest


def test_stored_alerts_filter_by_status_and_kind(client: TestClient) -> None:
    answer = client.get("/v1/alerts", params={"citizenship": "CN", "status": "open"})
    assert answer.status_code == 200, answer.text
    assert all(a["status"] == "open" for a in answer.json()["alerts"])
