"""The service notices what other processes write, without re-reading the store per request."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from forecasting.ingest import ingest
from forecasting.settings import get_settings
from forecasting.store import Store
from service.app import create_app
from tests.conftest import CBP_STATE_NEW, CBP_STATE_OLD


def last_month(client: TestClient) -> str:
    return client.get("/v1/series/CN/history").json()["history"][-1]["month"]


def test_generation_changes_with_a_write_and_only_then(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'g.db'}")
    empty = store.generation()
    ingest(store, str(CBP_STATE_OLD))
    after = store.generation()
    assert after != empty
    assert store.generation() == after


def test_data_ingested_by_another_process_is_served_after_one_poll(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BORDERCAST_REFRESH_SECONDS", "0.2")
    get_settings.cache_clear()
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    ingest(Store(url), str(CBP_STATE_OLD))
    served = Store(url)
    with TestClient(create_app(served)) as client:
        assert last_month(client) == "2023-09"
        ingest(Store(url), str(CBP_STATE_NEW))  # the monthly flow, through its own engine
        deadline = time.monotonic() + 10
        while last_month(client) == "2023-09" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert last_month(client) == "2025-11"
        assert client.app.state.services.catalog.fresh  # type: ignore[attr-defined]
