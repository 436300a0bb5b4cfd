"""The ``bordercast`` command as a user runs it: real processes, real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from forecasting.alerts import run_detection
from tests.conftest import CBP_SW, WORKBOOK, workbook_and_transit
from tests.factories import STATE_HEADER, state_row, write_csv
from tests.forecasting.test_transit_watch import CHINA_REASON, LOOSE


def run(tmp_path: Path, *args: str, url: str | None = None) -> subprocess.CompletedProcess[str]:
    """``bordercast *args`` on ``url``, by default a SQLite file of its own in ``tmp_path``."""
    env = {**os.environ, "BORDERCAST_DATABASE_URL": url or f"sqlite:///{tmp_path / 'cli.db'}"}
    return subprocess.run(
        [sys.executable, "-m", "bordercast", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_ingest_prints_what_it_did_and_series_lists_it(tmp_path: Path) -> None:
    release = write_csv(
        tmp_path / "r.csv",
        STATE_HEADER,
        [
            state_row("2024", "JAN", "Southwest Land Border", "CHINA, PEOPLES REPUBLIC OF", 900),
            state_row("2024", "FEB", "Southwest Land Border", "CHINA, PEOPLES REPUBLIC OF", 1100),
        ],
    )
    done = run(tmp_path, "ingest", str(release))
    assert done.returncode == 0, done.stderr
    assert "2 rows read, months 2024-01..2024-02" in done.stdout
    again = run(tmp_path, "ingest", "--json", str(release))
    assert json.loads(again.stdout)[0]["already_ingested"] is True
    listed = json.loads(run(tmp_path, "series", "--json").stdout)
    cn = next(
        s for s in listed if (s["code"], s["region"], s["component"]) == ("CN", "southwest", "all")
    )
    assert cn == {
        "code": "CN",
        "name": "China",
        "region": "southwest",
        "component": "all",
        "first_month": "2024-01",
        "last_month": "2024-02",
        "last_count": 1100,
        "reporting": True,
    }


def test_bad_file_exits_non_zero_with_one_message(tmp_path: Path) -> None:
    bad = write_csv(
        tmp_path / "bad.csv",
        STATE_HEADER,
        [
            state_row("2024", "JAN", "Southwest Land Border", "INDIA", "x"),
        ],
    )
    done = run(tmp_path, "ingest", str(bad))
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "error: bad.csv, line 2, column 'Encounter Count': 'x' is not a non-negative integer count"
    )


@pytest.mark.slow
def test_southwest_release_extends_the_ohss_history(tmp_path: Path) -> None:
    assert run(tmp_path, "ingest", str(WORKBOOK), str(CBP_SW)).returncode == 0
    listed = {
        (s["code"], s["region"], s["component"]): s
        for s in json.loads(run(tmp_path, "series", "--json").stdout)
    }
    assert listed[("MX", "southwest", "usbp")]["last_month"] == "2025-08"
    assert listed[("CN", "southwest", "usbp")]["last_month"] == "2024-11"


@pytest.mark.slow
def test_alerts_say_which_indicator_opened_a_watch(tmp_path: Path) -> None:
    store = workbook_and_transit(tmp_path)
    run_detection(store, "2022-03", notify=False, settings=LOOSE)
    done = run(tmp_path, "alerts", "--citizenship", "CN", url=store.url)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"CN:southwest:usbp/surge/2022-03 opened by: {CHINA_REASON}" in lines
    assert sum("opened by:" in line for line in lines) == 1  # China's other alerts: U.S. counts
    listed = json.loads(run(tmp_path, "alerts", "--json", url=store.url).stdout)["alerts"]
    reasons = {a["id"]: a["reason"] for a in listed}
    assert reasons["CN:southwest:usbp/surge/2022-03"] == CHINA_REASON
    assert None in reasons.values()


@pytest.mark.slow
def test_detect_opens_transit_watches_only_when_asked(tmp_path: Path) -> None:
    store = workbook_and_transit(tmp_path)
    ask = ["detect", "--as-of", "2022-10", "--citizenship", "EC", "--region", "southwest"]
    reason = "Darién crossings by nationals of Ecuador: 8,487 in 2022-10, x8.1 their 6-month mean"

    def reasons(*extra: str, env: dict[str, str] | None = None) -> list:
        os.environ.update(env or {})
        try:
            done = run(tmp_path, *ask, *extra, "--json", url=store.url)
        finally:
            for key in env or {}:
                os.environ.pop(key)
        assert done.returncode == 0, done.stderr
        return [a["reason"] for a in json.loads(done.stdout)["alerts"]]

    assert not any(reasons())  # off by default: the U.S. counts alone
    assert any(r and r.startswith(reason) for r in reasons("--transit-watch"))
    assert any(r and r.startswith(reason) for r in reasons(env={"BORDERCAST_TRANSIT_WATCH": "1"}))
    assert not any(reasons("--no-transit-watch", env={"BORDERCAST_TRANSIT_WATCH": "1"}))


@pytest.mark.slow
def test_backfill_keeps_each_months_plan_and_as_of_forecasts_use_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BORDERCAST_MODEL_DIR", str(tmp_path / "models"))  # run() passes it on
    assert run(tmp_path, "ingest", str(CBP_SW)).returncode == 0
    ask = ["forecast", "MX", "--component", "usbp", "--horizon", "2", "--json"]
    quick = json.loads(run(tmp_path, *ask, "--as-of", "2025-01", "--quick").stdout)
    assert quick["model"]["exact"] is False
    done = run(tmp_path, "backfill", "--from", "2024-12", "--to", "2025-01", "--json")
    assert done.returncode == 0, done.stderr
    assert [(d["month"], d["status"]) for d in json.loads(done.stdout)] == [
        ("2024-12", "built"),
        ("2025-01", "built"),
    ]
    again = json.loads(run(tmp_path, "backfill", "--from", "2025-01", "--json").stdout)
    assert [(d["month"], d["status"]) for d in again] == [("2025-01", "kept")]
    exact = json.loads(run(tmp_path, *ask, "--as-of", "2025-01", "--quick").stdout)
    assert exact["model"]["exact"] is True
    assert exact["model"]["data_cutoff"] == "2025-01"
    assert [r["month"] for r in exact["forecast"]] == ["2025-02", "2025-03"]
    backwards = run(tmp_path, "backfill", "--from", "2025-01", "--to", "2024-12")
    assert backwards.returncode == 2
    assert "--to 2024-12 is before --from 2025-01" in backwards.stderr


@pytest.mark.slow
def test_train_with_worker_processes_from_python_dash_m(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training's workers are spawned processes; they must start from ``python -m`` too."""
    monkeypatch.setenv("BORDERCAST_MODEL_DIR", str(tmp_path / "models"))
    assert run(tmp_path, "ingest", str(CBP_SW)).returncode == 0
    done = run(tmp_path, "train", "--workers", "2", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout)
    listed = json.loads(run(tmp_path, "series", "--json").stdout)
    assert summary["failed"] == {}
    assert summary["trained"] == sum(s["reporting"] for s in listed) > 0
