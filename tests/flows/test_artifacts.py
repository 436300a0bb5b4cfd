"""What the artifacts show: the backtest table, the alert summary, the ingest table."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from prefect.states import Failed

from flows import library as lib
from flows.pipeline import alerts_markdown, backtest_rows, ingest_rows, retry_if_transient
from forecasting.errors import IngestError


@dataclass
class Result:  # the shape of forecasting.training.SeriesResult the flows rely on
    unique_id: str
    ok: bool = True
    error: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


def test_backtest_table_lists_failures_first_with_every_models_figures() -> None:
    results = [
        Result(
            "IN:southwest:usbp",
            metrics={"model": {"AvgRelMAE": 0.81234}, "random_walk": {"AvgRelMAE": 1.0}},
        ),
        lib.SeriesFailure("CN:southwest:usbp", "ValueError: too short"),
        Result(
            "MX:southwest:usbp",
            metrics={"model": {"AvgRelMAE": 0.9}, "seasonal_naive": {"AvgRelMAE": 1.2}},
        ),
    ]
    rows = backtest_rows(results)
    assert [r["series"] for r in rows] == [
        "CN:southwest:usbp",
        "IN:southwest:usbp",
        "MX:southwest:usbp",
    ]
    assert rows[0]["status"] == "failed" and rows[0]["error"] == "ValueError: too short"
    assert rows[1]["model AvgRelMAE"] == 0.812
    assert rows[1]["random_walk AvgRelMAE"] == 1.0
    # Every row has every column, so the UI's table lines up.
    assert {tuple(r) for r in rows} == {tuple(rows[0])}
    assert rows[2]["seasonal_naive AvgRelMAE"] == 1.2 and rows[1]["seasonal_naive AvgRelMAE"] == ""


def test_alert_summary_has_new_escalated_and_resolved_sections() -> None:
    alert = {
        "citizenship": {"code": "CN", "name": "China"},
        "region": "southwest",
        "component": "usbp",
        "month": "2023-05",
        "kind": "surge",
        "severity": "critical",
        "observed": 4500,
        "expected": 900.0,
    }
    text = alerts_markdown({"opened": [alert], "escalated": [], "resolved": []}, as_of="2023-05")
    assert text.startswith("# Surge alerts as of 2023-05")
    assert "## New: 1" in text and "## Escalated: 0" in text and "## Resolved: 0" in text
    assert (
        "| China (CN) | southwest | usbp | 2023-05 | surge | critical | 4,500 | 900 | 5.0x |"
        in text
    )


def test_ingest_table_tells_applied_from_skipped() -> None:
    summary = lib.IngestSummary(
        "a.csv", "cbp_state", "ab" * 32, 10, "2023-10", "2023-12", 2, new=6, batch_id=1
    )
    again = lib.IngestSummary(
        "a.csv", "cbp_state", "ab" * 32, 10, "2023-10", "2023-12", 2, already_ingested=True
    )
    rows = ingest_rows([summary.as_dict(), again.as_dict()])
    assert [r["status"] for r in rows] == ["applied", "already ingested"]
    assert rows[0]["months"] == "2023-10..2023-12" and rows[0]["new"] == 6
    assert rows[0]["sha256"] == "abababababab"


def test_retry_condition_reads_the_exception_from_the_failed_state() -> None:
    transient = Failed(data=IngestError("u", "x").with_traceback(None))
    assert retry_if_transient(None, None, transient) is False  # type: ignore[arg-type]
    try:
        try:
            raise ConnectionRefusedError("refused")
        except OSError:
            raise RuntimeError("wrapped") from None
    except RuntimeError as exc:
        assert retry_if_transient(None, None, Failed(data=exc)) is True  # type: ignore[arg-type]
