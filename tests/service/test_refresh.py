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
from service.cache import AnswerCache
from tests.conftest import CBP_STATE_NEW, CBP_STATE_OLD
from tests.service.conftest import FakeForecasts


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


def test_a_repeated_get_is_replayed_whole_without_entering_the_app(
    client: TestClient, fake_forecasts: FakeForecasts
) -> None:
    first = client.get("/v1/forecasts/china", params={"horizon": 6})
    client.app.state.services.answers.clear()  # type: ignore[attr-defined]
    again = client.get("/v1/forecasts/china", params={"horizon": 6})
    assert fake_forecasts.calls == 1
    assert (again.status_code, again.content) == (first.status_code, first.content)
    assert again.headers["X-Bordercast-Series"] == "CN:all:usbp"
    assert again.headers["content-type"] == "application/json"
    client.get("/v1/forecasts/china", params={"horizon": 7})
    assert fake_forecasts.calls == 2  # another query string is another answer


def test_errors_and_keyed_routes_are_not_kept(client: TestClient, api_key: str) -> None:
    responses = client.app.state.services.responses  # type: ignore[attr-defined]
    assert client.get("/v1/forecasts/chna").status_code == 404
    assert client.get("/v1/subscriptions", headers={"X-API-Key": api_key}).status_code == 200
    assert len(responses) == 0


def test_an_answer_computed_across_a_store_change_is_not_kept() -> None:
    cache: AnswerCache[bytes] = AnswerCache()

    def read_while_the_store_changes() -> bytes:
        cache.clear()  # the watcher saw a new generation while this answer was being read
        return b"old"

    assert cache.get_or_compute("k", read_while_the_store_changes) == b"old"
    assert cache.get("k") is None
    assert cache.get_or_compute("k", lambda: b"new") == b"new"
    assert cache.get("k") == b"new"
