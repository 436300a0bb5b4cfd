"""``POST /v1/scenarios`` with transit indicator paths: the body, the refusals, the answer."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forecasting.store import Store
from service import backend
from service.app import create_app
from tests.conftest import workbook_and_transit
from tests.service.conftest import carry_forward

CN_SW = {"citizenship": "CN", "region": "southwest", "component": "usbp"}
DARIEN_CUT = {"source": "panama-darien", "change_pct": -90}


# -- the body: checked before any work ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "field"),
    [
        ({"source": "panama-darien", "change_pct": -150}, "change_pct"),
        ({**DARIEN_CUT, "from": "2025-13"}, "from"),
        ({"source": "darien", "change_pct": -90}, "source"),
        ({**DARIEN_CUT, "until": "2025-06"}, "until"),
    ],
)
def test_a_bad_path_is_422_naming_the_field(
    client: TestClient, path: dict[str, Any], field: str
) -> None:
    answer = client.post("/v1/scenarios", json={**CN_SW, "indicators": [path]})
    assert answer.status_code == 422
    loc = answer.json()["detail"][0]["loc"]
    assert loc[:3] == ["body", "indicators", 0] and loc[-1] == field


def test_a_path_needs_exactly_one_of_change_and_values(client: TestClient) -> None:
    both = {**DARIEN_CUT, "values": {"2025-01": 5}}
    for path in (both, {"source": "panama-darien"}):
        answer = client.post("/v1/scenarios", json={**CN_SW, "indicators": [path]})
        assert answer.status_code == 422
        assert "exactly one of change_pct and values" in answer.json()["detail"][0]["msg"]


def test_the_paths_reach_the_library_in_its_shape(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def scenario(store: Store, code: str, region: str, component: str, **kw: Any) -> Any:
        seen.update(kw)
        base = carry_forward(store, code, region, component)
        return {"baseline": base, "scenario": base, "events": []}  # an older library's answer

    monkeypatch.setattr(backend, "scenario_forecast", scenario)
    answer = client.post(
        "/v1/scenarios",
        json={
            **CN_SW,
            "indicators": [
                {**DARIEN_CUT, "from": "2025-01"},
                {"source": "entries-ECU", "values": {"2025-02": 1000}},
            ],
        },
    )
    assert answer.status_code == 200, answer.text
    assert seen["indicators"] == [
        {"source": "panama-darien", "change_pct": -90.0, "from": "2025-01"},
        {"source": "entries-ECU", "values": {"2025-02": 1000.0}},
    ]
    body = answer.json()
    assert body["indicators"] == [] and body["indicator_effect"] == []


def test_a_store_without_transit_data_refuses_by_name_not_500(client: TestClient) -> None:
    """The session store holds the workbook only: China has no indicator there."""
    answer = client.post("/v1/scenarios", json={**CN_SW, "indicators": [DARIEN_CUT]})
    assert answer.status_code == 404
    assert answer.json()["detail"].endswith(
        "China (CN) has no panama-darien series; its indicators: none"
    )


def test_the_schema_documents_the_paths(client: TestClient) -> None:
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    path = schemas["IndicatorPathIn"]
    assert {"source", "change_pct", "from", "values"} <= set(path["properties"])
    assert path["properties"]["change_pct"]["description"]
    assert "indicators" in schemas["ScenarioOut"]["properties"]


# -- on the bundled data ------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    return workbook_and_transit(tmp_path_factory.mktemp("scenario-indicators"))


def test_a_citizenship_without_the_indicator_is_404_naming_it(store: Store) -> None:
    with TestClient(create_app(store)) as client:
        answer = client.post(
            "/v1/scenarios", json={**CN_SW, "citizenship": "canada", "indicators": [DARIEN_CUT]}
        )
    assert answer.status_code == 404
    assert "Canada (CA) has no panama-darien series" in answer.json()["detail"]


@pytest.fixture(scope="module")
def trained(store: Store, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from forecasting.settings import get_settings

    models = tmp_path_factory.mktemp("scenario-indicator-models")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BORDERCAST_MODEL_DIR", str(models))
        get_settings.cache_clear()
        backend.retrain(store, ["CN:southwest:usbp"])
        with TestClient(create_app(store)) as client:
            yield client
    get_settings.cache_clear()


@pytest.mark.slow
def test_the_route_answers_the_baseline_and_the_darien_scenario(trained: TestClient) -> None:
    answer = trained.post("/v1/scenarios", json={**CN_SW, "horizon": 6, "indicators": [DARIEN_CUT]})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    served = trained.get(
        "/v1/forecasts/CN", params={"region": "southwest", "component": "usbp", "horizon": 6}
    ).json()
    base, scenario = body["baseline"]["forecast"], body["scenario"]["forecast"]
    assert base == served["forecast"]
    assert scenario[0] == base[0]
    assert all(s["mean"] < b["mean"] for b, s in zip(base[1:], scenario[1:], strict=True))
    darien = body["indicators"][0]
    assert darien["id"] == "panama-darien:CN" and darien["from"] == "2024-12"
    assert darien["lead_months"] == 1 and darien["correlation"] > 0.5
    assert [e["month"] for e in darien["effect"]] == [p["month"] for p in base]
    assert body["indicator_effect"][1]["change_pct"] < 0


@pytest.mark.slow
def test_a_path_over_published_months_is_422_naming_it(trained: TestClient) -> None:
    answer = trained.post(
        "/v1/scenarios", json={**CN_SW, "indicators": [{**DARIEN_CUT, "from": "2024-06"}]}
    )
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("indicators[0].from: 2024-06 is not after")
