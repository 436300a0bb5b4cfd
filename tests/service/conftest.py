"""Fixtures for the service: the bundled workbook ingested once, apps on that store, fakes.

The fakes stand in for library functions the service calls through
``service.backend`` (forecasts, retrain) where a test is about the service's
own behaviour (caching, retrain isolation), not about the models.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from forecasting.ingest import ingest
from forecasting.names import resolve
from forecasting.settings import get_settings
from forecasting.store import Store
from service import backend
from service.app import create_app
from tests.conftest import WORKBOOK

API_KEY = "test-key-0123456789"


@pytest.fixture(scope="session")
def ohss_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The bundled OHSS workbook in a SQLite store, ingested once per test session."""
    path: Path = tmp_path_factory.mktemp("service") / "ohss.db"
    store = Store(f"sqlite:///{path}")
    ingest(store, str(WORKBOOK))
    return store


@pytest.fixture(autouse=True)
def no_api_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Every test starts on a server without an API key, whatever the shell exports."""
    monkeypatch.delenv("BORDERCAST_API_KEY", raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """Configure ``BORDERCAST_API_KEY`` for this test."""
    monkeypatch.setenv("BORDERCAST_API_KEY", API_KEY)
    get_settings.cache_clear()
    return API_KEY


@pytest.fixture(scope="session")
def session_client(ohss_store: Store) -> Iterator[TestClient]:
    """One running app for the session: its series catalog is read once, not per test."""
    with TestClient(create_app(ohss_store)) as test_client:
        yield test_client


def emptied(client: TestClient) -> TestClient:
    """``client`` with its app's answer and response caches emptied, as a store change would."""
    services = client.app.state.services  # type: ignore[attr-defined]
    services.answers.clear()
    services.responses.clear()
    return client


@pytest.fixture
def client(session_client: TestClient) -> TestClient:
    """The shared app with its caches emptied, so no test sees another's answers."""
    return emptied(session_client)


def carry_forward(
    store: Store,
    citizenship: str,
    region: str,
    component: str,
    horizon: int = 12,
    level: int = 80,
    as_of: str | None = None,
    version: int = 1,
) -> dict[str, Any]:
    """A forecast in the CLI's shape: the last value carried forward, intervals widening."""
    history = store.history(citizenship, region, component, as_of=as_of)
    last = history["ds"].iloc[-1]
    y = float(history["y"].iloc[-1])
    months = pd.date_range(last + pd.offsets.MonthBegin(1), periods=horizon, freq="MS")
    return {
        "citizenship": {"code": citizenship, "name": resolve(citizenship).name},
        "region": region,
        "component": component,
        "as_of": last.strftime("%Y-%m"),
        "status": "ok",
        "message": "",
        "model": {
            "version": version,
            "kind": "naive",
            "data_cutoff": last.strftime("%Y-%m"),
            "metrics": {"MASE": 1.0},
            "effects": {},
            "exact": True,
        },
        "level": level,
        "forecast": [
            {
                "month": m.strftime("%Y-%m"),
                "mean": y,
                "lower": max(0.0, y * (1 - 0.1 * (h + 1))),
                "upper": y * (1 + 0.1 * (h + 1)),
            }
            for h, m in enumerate(months)
        ],
    }


class FakeForecasts:
    """Replaces ``backend.get_forecast``; counts calls and serves ``version``."""

    def __init__(self) -> None:
        self.calls = 0
        self.version = 1

    def __call__(self, store: Store, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls += 1
        return carry_forward(store, *args, **kwargs, version=self.version)


@pytest.fixture
def fake_forecasts(monkeypatch: pytest.MonkeyPatch) -> FakeForecasts:
    fake = FakeForecasts()
    monkeypatch.setattr(backend, "get_forecast", fake)
    return fake
