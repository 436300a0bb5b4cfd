"""The HTTP API on the bundled OHSS data: figures, names, defaults, errors, auth, caching."""

from __future__ import annotations

import threading
import time
from html import escape
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forecasting.alerts import run_detection
from forecasting.errors import (
    ArtifactTampered,
    ConfigError,
    IngestError,
    NoModel,
    UnknownCitizenship,
    UnknownSeries,
)
from forecasting.store import Store
from service import backend
from service.app import create_app, problem
from tests.conftest import CBP_STATE_OLD, ROOT, WORKBOOK, workbook_and_transit
from tests.forecasting.test_transit_watch import CHINA_REASON, LOOSE
from tests.service.conftest import FakeForecasts, carry_forward

CN_SW = {"region": "southwest", "component": "usbp"}


# -- health and no-model --------------------------------------------------------------


def test_health_answers_before_any_model_exists(client: TestClient) -> None:
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json()["status"] == "ok"


def test_forecast_without_model_is_503_with_a_reason(client: TestClient) -> None:
    answer = client.get("/v1/forecasts/CN")
    assert answer.status_code == 503
    assert answer.json()["reason"]


# -- stats: the figures reporting quotes ------------------------------------------------


def test_stats_reproduce_the_figures_quoted_for_china(client: TestClient) -> None:
    stats = client.get("/v1/series/CN/stats", params=CN_SW).json()
    assert stats["fiscal_years"]["2023"] == 24050
    assert stats["calendar_years"]["2023"] == 37160
    assert stats["citizenship"] == {"code": "CN", "name": "China"}
    july = client.get("/v1/series/CN/stats", params={**CN_SW, "as_of": "2023-07"}).json()
    assert july["last_month"] == "2023-07"
    assert july["as_of"] == "2023-07"
    assert july["trailing_12m_change_pct"] > 1000


def test_stats_mark_partial_years(client: TestClient) -> None:
    stats = client.get("/v1/series/CN/stats", params=CN_SW).json()
    assert "2025" in stats["partial_years"]["fiscal"]  # the workbook ends in November 2024
    assert "2023" not in stats["partial_years"]["fiscal"]


@pytest.mark.parametrize("spelling", ["CN", "cn", "China", "CHINA, PEOPLES REPUBLIC OF", "china"])
def test_citizenship_is_accepted_in_any_spelling_and_case(
    client: TestClient, spelling: str
) -> None:
    stats = client.get(f"/v1/series/{spelling}/stats", params=CN_SW)
    assert stats.status_code == 200
    assert stats.json()["fiscal_years"]["2023"] == 24050


# -- defaults -------------------------------------------------------------------------


def test_region_and_component_default_to_the_series_that_exists_and_say_so(
    client: TestClient,
) -> None:
    answer = client.get("/v1/series/CN/history")
    body = answer.json()
    assert (body["region"], body["component"]) == ("all", "usbp")  # OHSS has no 'all' component
    assert "component=usbp" in body["note"]
    assert answer.headers["X-Bordercast-Series"] == "CN:all:usbp"
    assert answer.headers["X-Bordercast-Defaulted"] == "region,component"
    given = client.get("/v1/series/CN/history", params={"component": "usbp"}).json()
    assert given["note"] is None


def test_component_all_is_preferred_where_it_exists(tmp_path: Any) -> None:
    from forecasting.ingest import ingest

    store = Store(f"sqlite:///{tmp_path / 'cbp.db'}")
    ingest(store, str(CBP_STATE_OLD))  # the CBP state format reports only the sum: component all
    with TestClient(create_app(store)) as client:
        body = client.get("/v1/series/CN/history").json()
    assert (body["region"], body["component"]) == ("all", "all")
    assert body["note"] is None


def test_history_as_of_keeps_the_months_through_it(client: TestClient) -> None:
    body = client.get("/v1/series/CN/history", params={**CN_SW, "as_of": "2022-12"}).json()
    assert body["history"][-1]["month"] == "2022-12"
    assert body["history"][0]["month"] == "1999-10"


def test_series_lists_what_the_store_holds(client: TestClient) -> None:
    listed = client.get("/v1/series", params={"component": "usbp", "region": "southwest"}).json()
    cn = next(s for s in listed if s["code"] == "CN")
    assert cn["first_month"] == "1999-10"
    assert {s["component"] for s in listed} == {"usbp"}


# -- errors ---------------------------------------------------------------------------


def test_unknown_citizenship_is_404_with_the_closest_matches(client: TestClient) -> None:
    answer = client.get("/v1/forecasts/Chnia")
    assert answer.status_code == 404
    assert "China (CN)" in answer.json()["suggestions"]


def test_unknown_series_is_404_naming_what_exists(client: TestClient) -> None:
    answer = client.get("/v1/series/CN/stats", params={"region": "southwest", "component": "ofo"})
    assert answer.status_code == 404
    assert "region=southwest component=usbp" in answer.json()["detail"]


def test_citizenship_without_data_is_404(client: TestClient) -> None:
    answer = client.get("/v1/series/Andorra/history")  # a real country, absent from the data
    assert answer.status_code == 404
    assert "Andorra" in answer.json()["detail"]


@pytest.mark.parametrize(
    ("url", "params", "name"),
    [
        ("/v1/series/CN/stats", {"as_of": "2023-13"}, "as_of"),
        ("/v1/series/CN/stats", {"as_of": "July 2023"}, "as_of"),
        ("/v1/series/CN/history", {"region": "mars"}, "region"),
        ("/v1/forecasts/CN", {"component": "navy"}, "component"),
        ("/v1/forecasts/CN", {"horizon": "0"}, "horizon"),
        ("/v1/forecasts/CN", {"level": "100"}, "level"),
        ("/v1/alerts", {"severity": "apocalyptic"}, "severity"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(
    client: TestClient, url: str, params: dict[str, str], name: str
) -> None:
    answer = client.get(url, params=params)
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][-1] == name


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (UnknownCitizenship("xx", ["China (CN)"]), 404),
        (UnknownSeries("CN:all:all"), 404),
        (NoModel("CN:all:usbp"), 503),
        (ArtifactTampered("m.joblib", "a", "b"), 503),
        (IngestError("f.csv", "bad count", line=3, column="Encounter Count"), 422),
        (ConfigError("policy_events.yaml: event 'x': date is not a date"), 422),
    ],
)
def test_library_errors_map_to_one_status_each(error: Exception, status: int) -> None:
    code, body = problem(error)
    assert code == status
    assert body["detail"] == str(error)
    if status == 503:
        assert body["reason"]


def test_library_input_errors_never_answer_500(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def bad_level(*_args: Any, **_kwargs: Any) -> dict[str, Any]:
        raise ConfigError("level 95 is not published for this series")

    monkeypatch.setattr(backend, "get_forecast", bad_level)
    answer = client.get("/v1/forecasts/CN", params={"level": 95})
    assert answer.status_code == 422
    assert "level" in answer.json()["detail"]
    refused = client.get("/v1/forecasts/CN", params={"level": 50})
    assert refused.status_code == 422  # the route itself refuses what no model publishes


# -- forecasts through the cache --------------------------------------------------------


def test_forecast_is_the_cli_shape_and_read_once(
    client: TestClient, fake_forecasts: FakeForecasts, ohss_store: Store
) -> None:
    first = client.get("/v1/forecasts/china", params=CN_SW)
    second = client.get("/v1/forecasts/CN", params=CN_SW)
    assert first.status_code == 200
    assert first.json() == carry_forward(ohss_store, "CN", "southwest", "usbp")
    assert second.content == first.content
    assert fake_forecasts.calls == 1


def test_forecast_as_of_is_passed_through(
    client: TestClient, fake_forecasts: FakeForecasts
) -> None:
    body = client.get("/v1/forecasts/CN", params={**CN_SW, "as_of": "2022-12"}).json()
    assert body["as_of"] == "2022-12"
    assert body["forecast"][0]["month"] == "2023-01"


# -- API key --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", "/v1/subscriptions"),
        ("POST", "/v1/admin/retrain"),
        ("DELETE", "/v1/subscriptions/1"),
    ],
)
def test_protected_routes_are_off_without_a_configured_key(
    client: TestClient, method: str, url: str
) -> None:
    answer = client.request(method, url, headers={"X-API-Key": "anything"})
    assert answer.status_code == 404
    assert "BORDERCAST_API_KEY" in answer.json()["detail"]


@pytest.mark.parametrize("key", [None, "wrong", "test-key-0123456789-but-longer", "ключ"])
def test_protected_routes_need_the_right_key(
    client: TestClient, api_key: str, key: str | None
) -> None:
    headers = {} if key is None else {"X-API-Key": key.encode("utf-8")}
    assert client.get("/v1/subscriptions", headers=headers).status_code == 401
    assert client.post("/v1/admin/retrain", headers=headers).status_code == 401


def test_subscriptions_round_trip_without_showing_the_secret(
    client: TestClient, api_key: str
) -> None:
    pytest.importorskip("forecasting.notify")
    headers = {"X-API-Key": api_key}
    created = client.post(
        "/v1/subscriptions",
        headers=headers,
        json={
            "channel": "webhook",
            "target": "https://example.org/hook",
            "secret": "s" * 24,
            "citizenships": ["cn"],
            "min_severity": "warning",
        },
    )
    assert created.status_code == 201, created.text
    sub = created.json()
    assert "secret" not in sub
    assert sub["citizenships"] == ["CN"]
    listed = client.get("/v1/subscriptions", headers=headers).json()
    assert sub["id"] in [s["id"] for s in listed]
    assert client.delete(f"/v1/subscriptions/{sub['id']}", headers=headers).status_code == 204
    assert client.delete(f"/v1/subscriptions/{sub['id']}", headers=headers).status_code == 404


def test_subscription_rules_of_the_library_are_422(client: TestClient, api_key: str) -> None:
    pytest.importorskip("forecasting.notify")
    answer = client.post(
        "/v1/subscriptions",
        headers={"X-API-Key": api_key},
        json={"channel": "webhook", "target": "https://example.org/hook", "secret": "short"},
    )
    assert answer.status_code == 422
    assert "secret" in answer.json()["detail"]


# -- retrain --------------------------------------------------------------------------


def test_retrain_in_progress_keeps_serving_the_current_version(
    client: TestClient,
    api_key: str,
    fake_forecasts: FakeForecasts,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """While a retrain runs, answers come from the complete current version; after, the new."""
    started, release = threading.Event(), threading.Event()

    def slow_retrain(_store: Store, series: list[str] | None) -> dict[str, Any]:
        started.set()
        fake_forecasts.version = -1  # a torn write: what a reader must never see
        release.wait(10)
        fake_forecasts.version = 2
        return {"trained": series, "version": 2}

    monkeypatch.setattr(backend, "retrain", slow_retrain)
    headers = {"X-API-Key": api_key}
    before = client.get("/v1/forecasts/CN", params=CN_SW).json()
    assert before["model"]["version"] == 1

    job = client.post("/v1/admin/retrain", headers=headers, json={"series": ["CN:southwest:usbp"]})
    assert job.status_code == 202
    assert job.headers["Location"] == f"/v1/admin/retrain/{job.json()['id']}"
    assert started.wait(5)
    assert client.post("/v1/admin/retrain", headers=headers).status_code == 409
    services = client.app.state.services  # type: ignore[attr-defined]
    services.watcher.check()  # a poll during the retrain keeps the published version
    during = client.get("/v1/forecasts/CN", params=CN_SW).json()
    assert during == before
    assert client.get("/health").json()["retraining"] is True

    release.set()
    for _ in range(100):
        status = client.get(f"/v1/admin/retrain/{job.json()['id']}", headers=headers).json()
        if status["status"] == "succeeded":
            break
        time.sleep(0.05)
    assert status["result"] == {"trained": ["CN:southwest:usbp"], "version": 2}
    after = client.get("/v1/forecasts/CN", params=CN_SW).json()
    assert after["model"]["version"] == 2


def test_failed_retrain_is_reported_on_the_job(
    client: TestClient, api_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(_store: Store, _series: list[str] | None) -> dict[str, Any]:
        raise NoModel("CN:all:usbp")

    monkeypatch.setattr(backend, "retrain", broken)
    headers = {"X-API-Key": api_key}
    job = client.post("/v1/admin/retrain", headers=headers).json()
    for _ in range(100):
        status = client.get(f"/v1/admin/retrain/{job['id']}", headers=headers).json()
        if status["status"] != "queued" and status["status"] != "running":
            break
        time.sleep(0.05)
    assert status["status"] == "failed"
    assert "NoModel" in status["error"]
    assert client.get("/v1/admin/retrain/nope", headers=headers).status_code == 404


# -- alerts, backtests, scenarios: the paths that do not need the models ---------------


def test_alerts_unknown_citizenship_is_404(client: TestClient) -> None:
    answer = client.get("/v1/alerts", params={"citizenship": "Chnia"})
    assert answer.status_code == 404
    assert "China (CN)" in answer.json()["suggestions"]


def test_alerts_filters_reach_the_library_resolved(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, Any] = {}

    def list_alerts(_store: Store, **filters: Any) -> list[dict[str, Any]]:
        seen.update(filters)
        return []

    monkeypatch.setattr(backend, "list_alerts", list_alerts)
    answer = client.get(
        "/v1/alerts",
        params={"citizenship": "china", "region": "southwest", "status": "open", "kind": "surge"},
    )
    assert answer.json() == {"as_of": None, "alerts": []}
    assert seen == {
        "citizenship": "CN",
        "region": "southwest",
        "component": None,
        "severity": None,
        "kind": "surge",
        "status": "open",
    }


@pytest.mark.slow
def test_stored_alerts_say_which_indicator_opened_a_watch(tmp_path: Path) -> None:
    store = workbook_and_transit(tmp_path)
    run_detection(store, "2022-03", notify=False, settings=LOOSE)
    with TestClient(create_app(store)) as client:
        answer = client.get("/v1/alerts", params={"citizenship": "China", "region": "southwest"})
        everything = client.get("/v1/alerts").json()["alerts"]
        schema = client.get("/openapi.json").json()["components"]["schemas"]["AlertOut"]
    assert answer.status_code == 200, answer.text
    (watch,) = [a for a in answer.json()["alerts"] if a["id"] == "CN:southwest:usbp/surge/2022-03"]
    assert (watch["severity"], watch["reason"]) == ("watch", CHINA_REASON)
    assert any(a["reason"] is None for a in everything)  # the U.S. counts opened these
    assert "reason" in schema["properties"] and "reason" not in schema.get("required", [])
    with TestClient(create_app(store)) as client:
        page = client.get("/", params={"citizenship": "CN", **CN_SW})
    assert page.status_code == 200
    assert f'<td colspan="6">Opened by: {escape(CHINA_REASON)}</td>' in page.text


@pytest.mark.slow
def test_replayed_alerts_follow_the_transit_watch_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecasting.settings import get_settings

    store = workbook_and_transit(tmp_path)
    query = {"as_of": "2022-10", "citizenship": "EC", "region": "southwest"}
    reasons = {}
    for value in ("0", "1"):
        monkeypatch.setenv("BORDERCAST_TRANSIT_WATCH", value)
        get_settings.cache_clear()
        with TestClient(create_app(store)) as client:
            answer = client.get("/v1/alerts", params=query)
        assert answer.status_code == 200, answer.text
        reasons[value] = [a["reason"] for a in answer.json()["alerts"] if a["reason"]]
    get_settings.cache_clear()
    assert reasons["0"] == []  # off: the U.S. counts alone, as the monthly run stores them
    assert [r.split(":")[0] for r in reasons["1"]] == ["Darién crossings by nationals of Ecuador"]


def test_backtest_and_scenario_answer_404_for_unknown_citizenship(client: TestClient) -> None:
    assert client.get("/v1/backtests/Chnia").status_code == 404
    assert client.post("/v1/scenarios", json={"citizenship": "Chnia"}).status_code == 404


def test_scenario_body_errors_name_the_field(client: TestClient) -> None:
    answer = client.post(
        "/v1/scenarios",
        json={"citizenship": "CN", "add_events": [{"id": "x", "date": "2024-13-01"}]},
    )
    assert answer.status_code == 422
    assert answer.json()["detail"][0]["loc"][-1] == "date"


def test_scenario_passes_the_edits_to_the_library(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, ohss_store: Store
) -> None:
    seen: dict[str, Any] = {}

    def scenario(store: Store, code: str, region: str, component: str, **kw: Any) -> Any:
        seen.update(kw, series=(code, region, component))
        base = carry_forward(store, code, region, component)
        return {"baseline": base, "scenario": base, "events": []}

    monkeypatch.setattr(backend, "scenario_forecast", scenario)
    answer = client.post(
        "/v1/scenarios",
        json={
            "citizenship": "china",
            "region": "southwest",
            "add_events": [{"id": "cn-visa-2025", "date": "2025-01-15"}],
            "remove_event_ids": ["title42-end"],
            "move": {"china-reopening": "2023-03-01"},
        },
    )
    assert answer.status_code == 200, answer.text
    assert seen["series"] == ("CN", "southwest", "usbp")
    assert seen["add_events"] == [
        {
            "id": "cn-visa-2025",
            "date": "2025-01-15",
            "announced": "2025-01-15",
            "kind": "step",
            "citizenships": ["CN"],
            "regions": ["all"],
            "source": "scenario",
        }
    ]
    assert seen["remove_event_ids"] == ["title42-end"]
    assert seen["move"] == {"china-reopening": "2023-03-01"}


# -- charts and the page ----------------------------------------------------------------


def test_chart_svg_shows_history_events_and_says_why_no_forecast(client: TestClient) -> None:
    answer = client.get("/v1/forecasts/CN/chart.svg", params=CN_SW)
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/svg+xml"
    svg = answer.text
    assert "<svg" in svg
    assert "covid-title42" in svg  # a policy event touching China is marked
    assert "No forecast" in svg


def test_chart_shows_the_forecast_when_there_is_one(
    client: TestClient, fake_forecasts: FakeForecasts
) -> None:
    svg = client.get("/v1/forecasts/CN/chart.svg", params=CN_SW).text
    assert "80% interval" in svg
    assert "No forecast" not in svg
    png = client.get("/v1/forecasts/CN/chart.png", params=CN_SW)
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_page_has_the_controls_chart_and_sections(client: TestClient) -> None:
    page = client.get("/", params={"citizenship": "china", **CN_SW})
    assert page.status_code == 200
    html = page.text
    assert '<option value="CN" selected>' in html
    assert 'src="/v1/forecasts/CN/chart.svg?region=southwest&amp;component=usbp"' in html
    for section in ("Forecast", "Backtest against the baselines", "Open alerts"):
        assert section in html
    assert client.get("/static/app.js").status_code == 200


def test_page_with_an_unknown_citizenship_suggests(client: TestClient) -> None:
    page = client.get("/", params={"citizenship": "Chnia"})
    assert page.status_code == 404
    assert "China (CN)" in page.text


def test_page_falls_back_when_a_control_is_left_over(client: TestClient) -> None:
    page = client.get("/", params={"citizenship": "CN", "component": "ofo"})
    assert page.status_code == 200
    assert "showing the nearest series" in page.text


def test_openapi_documents_every_route_with_models(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in (
        "/health",
        "/v1/series",
        "/v1/series/{citizenship}/history",
        "/v1/series/{citizenship}/stats",
        "/v1/forecasts/{citizenship}",
        "/v1/forecasts/{citizenship}/chart.svg",
        "/v1/forecasts/{citizenship}/chart.png",
        "/v1/scenarios",
        "/v1/alerts",
        "/v1/backtests/{citizenship}",
        "/v1/subscriptions",
        "/v1/admin/retrain",
    ):
        assert path in paths, path
    ok = paths["/v1/forecasts/{citizenship}"]["get"]["responses"]["200"]
    assert ok["content"]["application/json"]["schema"]["$ref"].endswith("/ForecastOut")
    assert "APIKeyHeader" in spec["components"]["securitySchemes"]
    assert client.get("/docs").status_code == 200


def test_indicators_give_the_darien_lead_for_china(tmp_path: Path) -> None:
    from forecasting.ingest import ingest as ingest_file

    store = Store(f"sqlite:///{tmp_path / 'transit.db'}")
    for path in (
        WORKBOOK,
        ROOT / "data" / "transit" / "panama-darien-irregular-transit-by-nationality.csv",
    ):
        ingest_file(store, str(path))
    with TestClient(create_app(store)) as client:
        body = client.get("/v1/indicators/china", params={"as_of": "2024-11"}).json()
        unknown = client.get("/v1/indicators/atlantis")
    darien = next(i for i in body["indicators"] if i["source"] == "panama-darien")
    assert body["citizenship"] == {"code": "CN", "name": "China"}
    assert darien["relation"]["lead_months"] == 1
    assert darien["relation"]["correlation"] > 0.9
    assert sum(p["count"] for p in darien["history"] if p["month"].startswith("2023")) == 25565
    assert unknown.status_code == 404
