"""flows/library.py: the one adapter into forecasting (sources, retry rule, missing steps)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import httpx
import pytest

from flows import library as lib
from forecasting.errors import DeliveryError, IngestError


def test_cbp_pattern_names_the_release_published_that_month() -> None:
    # The bundled file: published December 2025, covering FY2023 to November 2025 (FY2026).
    (url,) = lib.expand_sources([lib.CBP_NATIONWIDE_STATE], dt.date(2025, 12, 20))
    assert url == (
        "https://www.cbp.gov/sites/default/files/2025-12/"
        "nationwide-encounters-fy23-fy26-nov-state.csv"
    )


def test_pattern_fills_every_placeholder_and_crosses_the_fiscal_year() -> None:
    pattern = "https://x/{published}/{year}-{mm}-{month}-fy{fy_first}-fy{fy}.csv"
    # Published in October: covers September, the last month of its fiscal year.
    assert lib.expand_sources([pattern], dt.date(2024, 10, 20)) == [
        "https://x/2024-10/2024-09-sep-fy21-fy24.csv"
    ]
    # Published in November: covers October, the first month of the next fiscal year.
    assert lib.expand_sources([pattern], dt.date(2024, 11, 1)) == [
        "https://x/2024-11/2024-10-oct-fy22-fy25.csv"
    ]


def test_local_globs_expand_sorted_and_plain_paths_pass_through(tmp_path: Path) -> None:
    for name in ("b.csv", "a.csv", "c.txt"):
        (tmp_path / name).write_text("x")
    missing = str(tmp_path / "missing.csv")
    found = lib.expand_sources(
        [str(tmp_path / "*.csv"), missing, str(tmp_path / "*.xlsx")], dt.date(2025, 1, 20)
    )
    assert found == [str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), missing]


def _status_error(code: int) -> httpx.HTTPStatusError:
    request = httpx.Request("GET", "https://example.org/f.csv")
    return httpx.HTTPStatusError(
        "x", request=request, response=httpx.Response(code, request=request)
    )


def _raised_from(inner: BaseException) -> IngestError:
    """An IngestError raised the way forecasting.ingest.fetch raises it (``from None``)."""
    try:
        try:
            raise inner
        except BaseException:
            raise IngestError("f.csv", "download failed") from None
    except IngestError as exc:
        return exc


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (_status_error(503), True),
        (_status_error(404), False),
        (httpx.ConnectError("refused"), True),
        (httpx.ReadTimeout("slow"), True),
        (_raised_from(httpx.ConnectError("refused")), True),
        (_raised_from(_status_error(502)), True),
        (_raised_from(_status_error(403)), False),
        (IngestError("bad.csv", "not a count", line=2, column="Encounter Count"), False),
        (DeliveryError("SMTP 451", retryable=True), True),
        (DeliveryError("webhook 410", retryable=False), False),
        (ConnectionResetError("peer"), True),
        (KeyError("bug"), False),
    ],
)
def test_retry_rule_retries_transient_failures_only(error: BaseException, expected: bool) -> None:
    assert lib.retryable(error) is expected


def test_fetch_makes_one_attempt_so_prefect_owns_the_retries(tmp_path: Path) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(b"abc")
    assert lib.fetch(str(path), timeout=1) == b"abc"
    with pytest.raises(IngestError, match="no such file"):
        lib.fetch(str(tmp_path / "none.csv"), timeout=1)


def test_a_series_that_raises_becomes_a_failure_not_an_exception(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def boom(plan, unique_id):  # type: ignore[no-untyped-def]
        raise ValueError("too short")

    monkeypatch.setattr(lib.training, "train_one", boom)
    result = lib.train_one(object(), "CN:southwest:usbp")
    assert isinstance(result, lib.SeriesFailure)
    assert (result.ok, result.unique_id, result.error) == (
        False,
        "CN:southwest:usbp",
        "ValueError: too short",
    )


@pytest.mark.slow
def test_monthly_detection_opens_transit_watches_when_the_setting_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from forecasting.settings import get_settings
    from tests.conftest import workbook_and_transit

    opened = {}
    for value in ("0", "1"):
        monkeypatch.setenv("BORDERCAST_TRANSIT_WATCH", value)
        get_settings.cache_clear()
        store = workbook_and_transit(tmp_path / f"watch-{value}")
        found = lib.run_detection(store, as_of="2022-10")
        opened[value] = {a["id"]: a.get("reason") for a in found["opened"]}
    get_settings.cache_clear()
    assert "EC:southwest:usbp/surge/2022-10" not in opened["0"]
    assert opened["1"]["EC:southwest:usbp/surge/2022-10"].startswith(
        "Darién crossings by nationals of Ecuador: 8,487 in 2022-10"
    )


def test_the_ingest_flow_applies_a_transit_file_to_the_indicators(tmp_path: Path) -> None:
    """The flow reads a file, then applies it: a transit file must reach the indicator store.

    It once went to the encounter store and failed (``TransitReading`` has no
    ``counts``); found by the type check.
    """
    from hashlib import sha256

    from forecasting.indicators import indicator_frame
    from forecasting.store import Store
    from tests.conftest import DATA

    path = DATA / "transit" / "mexico-irregular-migrants-by-nationality.csv"
    raw = path.read_bytes()
    store = Store(f"sqlite:///{tmp_path / 'flow.db'}")
    reading = lib.read_release(str(path), raw)
    summary = lib.apply_release(store, str(path), sha256(raw).hexdigest(), reading)
    assert summary.new == 14_960 and not summary.already_ingested
    china = indicator_frame(store, "CN")
    mexico_2023 = china[china["ds"].dt.year == 2023]["y"].sum()
    assert mexico_2023 == 14_014  # Mexico's count of Chinese nationals in 2023 (data README)
    again = lib.apply_release(store, str(path), sha256(raw).hexdigest(), reading)
    assert again.already_ingested and again.new == 0
