"""The transit indicators beside the encounters: their chart route and the page's panel.

On a store holding the bundled workbook and the three bundled transit files,
where China's Darién count leads its southwest encounters by a month. The
shared ``client`` (workbook only, no transit file) stands for a deployment
that has not ingested any indicator.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from forecasting.store import Store
from service.api import indicators as indicators_api
from service.app import create_app
from tests.conftest import DATA, workbook_and_transit
from tests.service.conftest import emptied

TRANSIT = sorted((DATA / "transit").glob("*.csv"))


@pytest.fixture(scope="module")
def transit_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The bundled workbook and every bundled transit file, ingested once for this module."""
    return workbook_and_transit(tmp_path_factory.mktemp("indicators"))


@pytest.fixture(scope="module")
def module_client(transit_store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(transit_store)) as client:
        yield client


@pytest.fixture
def transit_client(module_client: TestClient) -> TestClient:
    """The app on the transit store, with its caches emptied."""
    return emptied(module_client)


def svg_texts(svg: str) -> list[str]:
    """The strings a chart shows (the charts keep text as ``<text>``, not glyph paths)."""
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_bundled_transit_files_are_all_ingested() -> None:
    assert [p.name for p in TRANSIT] == [
        "mexico-irregular-migrants-by-nationality.csv",
        "panama-darien-irregular-transit-by-nationality.csv",
        "regular-entries-by-nationality.csv",
    ]


# -- the chart --------------------------------------------------------------------------


def test_chart_shows_each_indicator_shifted_by_its_measured_lead(
    transit_client: TestClient,
) -> None:
    answer = transit_client.get("/v1/indicators/china/chart.svg")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "image/svg+xml"
    texts = svg_texts(answer.text)
    assert "China (CN) · transit indicators shifted by their lead" in texts
    assert "southwest encounters (usbp), not shifted" in texts
    assert "Darién crossings, shifted +1 month (r = 0.98, 2020-02..2024-11)" in texts
    assert "Irregular migrants in Mexico, not shifted (r = 0.89, 2018-01..2024-11)" in texts
    assert "Entries into Ecuador, shifted +1 month (r = 0.96, 2022-02..2024-11)" in texts
    # Strongest first in the legend; a series with no measurable lead is named, not drawn.
    legend = [t for t in texts if ", shifted +" in t or ", not shifted (" in t]
    assert legend[0].startswith("Darién crossings")
    assert len(legend) == 11
    assert "not drawn, too few months to compare: Entries into Bolivia" in texts
    assert "last encounter month 2024-11" in texts


def test_chart_as_of_uses_only_what_was_known_then(transit_client: TestClient) -> None:
    texts = svg_texts(
        transit_client.get("/v1/indicators/CN/chart.svg", params={"as_of": "2023-06"}).text
    )
    assert "Darién crossings, shifted +1 month (r = 0.99, 2020-02..2023-06)" in texts
    assert "last encounter month 2023-06" in texts
    assert any(t.startswith("as of 2023-06") for t in texts)


def test_chart_png_and_the_cache(
    transit_client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    render = indicators_api.render_indicators

    def counted(data: Any, fmt: Any) -> bytes:
        calls.append(fmt)
        return render(data, fmt)

    monkeypatch.setattr(indicators_api, "render_indicators", counted)
    first = transit_client.get("/v1/indicators/CN/chart.png")
    second = transit_client.get("/v1/indicators/cn/chart.png")
    assert first.headers["content-type"] == "image/png"
    assert first.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert second.content == first.content
    assert calls == ["png"]  # drawn once, then served from the answer cache


def test_chart_of_a_citizenship_without_indicators_is_404_naming_it(
    transit_client: TestClient,
) -> None:
    answer = transit_client.get("/v1/indicators/unknown/chart.svg")
    assert answer.status_code == 404
    assert answer.json()["detail"].startswith("no transit indicators for Unknown (UNKNOWN)")
    assert transit_client.get("/v1/indicators/UNKNOWN/chart.png").status_code == 404


def test_chart_on_a_store_without_transit_data_is_404(client: TestClient) -> None:
    answer = client.get("/v1/indicators/CN/chart.svg")
    assert answer.status_code == 404
    assert "no transit indicators for China (CN)" in answer.json()["detail"]


@pytest.mark.parametrize("fmt", ["svg", "png"])
def test_chart_of_an_unknown_citizenship_is_404_with_suggestions(
    transit_client: TestClient, fmt: str
) -> None:
    answer = transit_client.get(f"/v1/indicators/Chnia/chart.{fmt}")
    assert answer.status_code == 404
    assert "China (CN)" in answer.json()["suggestions"]


def test_chart_routes_are_documented(transit_client: TestClient) -> None:
    paths = transit_client.get("/openapi.json").json()["paths"]
    svg = paths["/v1/indicators/{citizenship}/chart.svg"]["get"]["responses"]
    assert "image/svg+xml" in svg["200"]["content"]
    assert "404" in svg
    assert "/v1/indicators/{citizenship}/chart.png" in paths


def test_json_answer_is_unchanged_by_the_cache(transit_client: TestClient) -> None:
    first = transit_client.get("/v1/indicators/CN", params={"as_of": "2024-11"})
    second = transit_client.get("/v1/indicators/china", params={"as_of": "2024-11"})
    assert first.headers["content-type"] == "application/json"
    assert first.content == second.content
    darien = next(i for i in first.json()["indicators"] if i["source"] == "panama-darien")
    assert darien["relation"]["lead_months"] == 1


# -- the page -----------------------------------------------------------------------------


def panel(html: str) -> str | None:
    found = re.search(r'<section id="indicators".*?</section>', html, re.S)
    return found.group(0) if found else None


def test_page_shows_the_indicator_panel_for_china(transit_client: TestClient) -> None:
    page = transit_client.get("/", params={"citizenship": "CN"})
    assert page.status_code == 200
    shown = panel(page.text)
    assert shown is not None
    assert 'src="/v1/indicators/CN/chart.svg"' in shown
    rows = re.findall(r'<tr data-id="([^"]+)">(.*?)</tr>', shown, re.S)
    assert rows[0][0] == "panama-darien:CN"  # the highest correlation first
    cells = re.findall(r"<td[^>]*>(.*?)</td>", rows[0][1])
    assert cells[:4] == ["Darién crossings", "+1 month", "0.98", "2020-02 to 2024-11 (55 months)"]
    bolivia = dict(rows)["entries-BOL:CN"]
    assert "too few to compare" in bolivia
    assert len(rows) == 12


def test_page_hides_the_panel_without_indicators(
    transit_client: TestClient, client: TestClient
) -> None:
    unknown = transit_client.get("/", params={"citizenship": "UNKNOWN"})
    assert unknown.status_code == 200
    assert panel(unknown.text) is None
    assert "/v1/indicators/" not in unknown.text
    untransited = client.get("/", params={"citizenship": "CN"})  # no transit file ingested
    assert untransited.status_code == 200
    assert panel(untransited.text) is None
