"""The page in headless Chromium: loads without console errors, the controls change the chart
and the transit indicators' panel follows the citizenship.

Needs Debian's ``chromium`` and ``chromium-driver``; skipped where they are
missing, except in CI (``CI=true``), where that is a failure. The screenshot
goes to the test's tmp dir, and to ``docs/screenshot.png`` when
``BORDERCAST_UPDATE_SCREENSHOT=1``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from forecasting.store import Store
from service.app import create_app
from tests.conftest import ROOT, workbook_and_transit
from tests.service.server import running

pytestmark = [pytest.mark.browser, pytest.mark.external]

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    if missing:
        message = (
            f"headless Chromium needs {', '.join(missing)} "
            "(apt-get install chromium chromium-driver)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1700",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def transit_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The bundled workbook and the bundled transit files: China has indicators, UNKNOWN none."""
    return workbook_and_transit(tmp_path_factory.mktemp("browser"))


def image_loaded(driver: object, element_id: str) -> bool:
    return bool(
        driver.execute_script(  # type: ignore[attr-defined]
            "const i = document.getElementById(arguments[0]);"
            "return i && i.complete && i.naturalWidth > 0;",
            element_id,
        )
    )


def chart_loaded(driver: object) -> bool:
    return image_loaded(driver, "chart")


def selected_citizenship(driver: object) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    select = Select(driver.find_element(By.ID, "citizenship"))  # type: ignore[attr-defined]
    return str(select.first_selected_option.get_attribute("value"))


def console_errors(driver: object) -> list[dict[str, object]]:
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]  # type: ignore[attr-defined]


def test_page_loads_clean_and_the_controls_change_the_chart(
    browser: object, ohss_store: Store, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 30)
    with running(create_app(ohss_store)) as base:
        driver.get(f"{base}/?citizenship=CN&region=southwest&component=usbp")  # type: ignore[attr-defined]
        wait.until(chart_loaded)
        first = driver.find_element(By.ID, "chart").get_attribute("src")  # type: ignore[attr-defined]
        assert first.endswith("/v1/forecasts/CN/chart.svg?region=southwest&component=usbp")
        assert console_errors(driver) == []

        # A new citizenship: the form submits itself and the chart is Mexico's.
        Select(driver.find_element(By.ID, "citizenship")).select_by_value("MX")  # type: ignore[attr-defined]
        wait.until(
            lambda d: "/v1/forecasts/MX/" in d.find_element(By.ID, "chart").get_attribute("src")
        )
        wait.until(chart_loaded)
        assert (
            Select(driver.find_element(By.ID, "citizenship")).first_selected_option.get_attribute(  # type: ignore[attr-defined]
                "value"
            )
            == "MX"
        )

        # A new region: same citizenship, the chart of that region.
        Select(driver.find_element(By.ID, "region")).select_by_value("northern")  # type: ignore[attr-defined]
        wait.until(
            lambda d: "region=northern" in d.find_element(By.ID, "chart").get_attribute("src")
        )
        wait.until(chart_loaded)
        assert console_errors(driver) == []

        # Back to China at the southwest border for the picture in the docs.
        driver.get(f"{base}/?citizenship=CN&region=southwest&component=usbp")  # type: ignore[attr-defined]
        wait.until(chart_loaded)
        chart = driver.find_element(By.ID, "chart")  # type: ignore[attr-defined]
        assert chart.is_displayed()
        assert chart.size["width"] > 600 and chart.size["height"] > 250
        crop = chart.screenshot_as_png
        shot = tmp_path / "screenshot.png"
        assert driver.save_screenshot(str(shot))  # type: ignore[attr-defined]
        assert console_errors(driver) == []

    from PIL import Image

    with Image.open(shot) as full:
        assert full.size[0] >= 1000
    import io

    with Image.open(io.BytesIO(crop)) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 20  # a drawn chart, not a blank box
    if os.environ.get("BORDERCAST_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(shot, ROOT / "docs" / "screenshot.png")


def test_indicator_panel_follows_the_citizenship(browser: object, transit_store: Store) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    driver = browser
    wait = WebDriverWait(driver, 30)
    with running(create_app(transit_store)) as base:
        driver.get(f"{base}/?citizenship=CN")  # type: ignore[attr-defined]
        wait.until(chart_loaded)
        wait.until(lambda d: image_loaded(d, "indicator-chart"))
        panel = driver.find_element(By.ID, "indicators")  # type: ignore[attr-defined]
        assert panel.is_displayed()
        chart = driver.find_element(By.ID, "indicator-chart")  # type: ignore[attr-defined]
        assert chart.get_attribute("src").endswith("/v1/indicators/CN/chart.svg")
        assert chart.size["width"] > 600 and chart.size["height"] > 250
        lead = panel.find_element(By.CSS_SELECTOR, 'tr[data-id="panama-darien:CN"] td.lead')
        assert lead.text == "+1 month"
        assert console_errors(driver) == []

        # A citizenship without indicators: the form submits itself and the panel is gone.
        Select(driver.find_element(By.ID, "citizenship")).select_by_value("UNKNOWN")  # type: ignore[attr-defined]
        wait.until(lambda d: selected_citizenship(d) == "UNKNOWN")
        wait.until(chart_loaded)
        assert "/v1/forecasts/UNKNOWN/" in driver.find_element(By.ID, "chart").get_attribute("src")  # type: ignore[attr-defined]
        assert driver.find_elements(By.ID, "indicators") == []  # type: ignore[attr-defined]
        assert console_errors(driver) == []

        # And back: the panel returns with the chosen citizenship.
        Select(driver.find_element(By.ID, "citizenship")).select_by_value("CN")  # type: ignore[attr-defined]
        wait.until(lambda d: selected_citizenship(d) == "CN")
        wait.until(lambda d: image_loaded(d, "indicator-chart"))
        assert driver.find_element(By.ID, "indicators").is_displayed()  # type: ignore[attr-defined]
        assert console_errors(driver) == []
