"""Property-based tests of every documented operation: no input a user can type answers 500.

Schemathesis generates valid and invalid requests from ``/openapi.json``. The
protected routes are exercised with the API key; every library function behind
``service.backend`` is stubbed (forecasts carried forward, no alerts, a
one-model backtest), so the run exercises the service rather than model
fitting, and 200 answers are checked against their schemas too. A 503 (no
model yet) is intended behaviour and covered in ``test_api.py``; here any 5xx
is a failure.

The default run tries 15 examples per operation (about half a minute); CI
(``CI=true``) tries 50.
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from forecasting.store import Store
from service import backend
from service.app import create_app
from tests.service.conftest import FakeForecasts, carry_forward

# The app as ``bordercast serve`` builds it; its lifespan opens the store named by the
# environment at the first request, which the ``stubs`` fixture points at the test store.
APP = create_app()
schema = schemathesis.openapi.from_dict(APP.openapi())
schema.app = APP


@pytest.fixture
def stubs(
    monkeypatch: pytest.MonkeyPatch, fake_forecasts: FakeForecasts, ohss_store: Store
) -> None:
    monkeypatch.setenv("BORDERCAST_DATABASE_URL", ohss_store.url)

    def retrain(_store: Store, series: list[str] | None) -> dict[str, Any]:
        return {"trained": series}

    def scenario(store: Store, code: str, region: str, component: str, **kw: Any) -> Any:
        base = carry_forward(store, code, region, component, kw["horizon"], kw["level"])
        return {"baseline": base, "scenario": base, "events": []}

    def backtest(_store: Store, code: str, region: str, component: str) -> dict[str, Any]:
        series = {"citizenship": {"code": code, "name": code}, "region": region}
        return {**series, "component": component, "models": [{"model": "naive", "MASE": 1.0}]}

    def alerts(_store: Store, *_args: Any, **_filters: Any) -> list[dict[str, Any]]:
        return []

    def detect(_store: Store, as_of: str, **_filters: Any) -> dict[str, Any]:
        return {"as_of": as_of, "alerts": []}

    monkeypatch.setattr(backend, "get_backtest", backtest)
    monkeypatch.setattr(backend, "list_alerts", alerts)
    monkeypatch.setattr(backend, "detect_as_of", detect)
    monkeypatch.setattr(backend, "retrain", retrain)
    monkeypatch.setattr(backend, "scenario_forecast", scenario)


MAX_EXAMPLES = 50 if os.environ.get("CI") == "true" else 15


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,  # the fixtures only set environment and stubs
    ],
)
def test_no_input_answers_a_server_error(case: Any, api_key: str, stubs: None) -> None:
    case.call_and_validate(
        headers={"X-API-Key": api_key},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_schema_conformance,
        ],
    )
