"""Fixtures for the flow tests: a real Prefect API, small CBP releases, helper processes.

Prefect reads its settings when first imported, so its home, telemetry and
start-up timeout are set here, before any test module imports ``flows``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="bordercast-prefect-"))
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "forecasting")

from tests.conftest import ROOT
from tests.factories import STATE_HEADER, state_row, write_csv

BIN = Path(sys.executable).parent


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[str]:
    """Prefect's test harness: a real API server on a temporary SQLite database."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield PREFECT_API_URL.value()


@pytest.fixture
def flow_env(settings_env, monkeypatch: pytest.MonkeyPatch, prefect_api: str):  # type: ignore[no-untyped-def]
    """A fresh SQLite store, thread runner, quick retries, and the harness API."""
    import flows.pipeline

    monkeypatch.setenv("BORDERCAST_TASK_RUNNER", "thread")
    monkeypatch.setenv("BORDERCAST_DOWNLOAD_RETRIES", "2")
    monkeypatch.setattr(flows.pipeline, "RETRY_BASE_SECONDS", 0.0)
    from forecasting.settings import get_settings

    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


def release(path: Path, months: list[tuple[str, str]], count: int = 100) -> Path:
    """A small CBP nationwide release by state: China and India, southwest, each month."""
    rows = []
    for fy, month in months:
        for citizenship, n in (("CHINA, PEOPLES REPUBLIC OF", count), ("INDIA", count // 2)):
            rows.append(state_row(fy, month, "Southwest Land Border", citizenship, n))
    return write_csv(path, STATE_HEADER, rows)


@pytest.fixture
def releases(tmp_path: Path) -> tuple[Path, Path]:
    """Two overlapping releases: FY2024 OCT-DEC, then NOV-JAN with NOV revised."""
    first = release(
        tmp_path / "nationwide-encounters-fy21-fy24-dec-state.csv",
        [("2024", "OCT"), ("2024", "NOV"), ("2024", "DEC")],
    )
    second = release(
        tmp_path / "nationwide-encounters-fy21-fy24-jan-state.csv",
        [("2024", "NOV"), ("2024", "DEC"), ("2024", "JAN")],
        count=120,
    )
    return first, second


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], timeout: float, what: str, proc=None) -> None:  # type: ignore[no-untyped-def]
    """Poll ``check`` until true; fail naming ``what`` (and a dead process's output)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"{what}: process exited {proc.returncode}: {_tail(proc)}")
        try:
            if check():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.5)
    pytest.fail(f"{what}: not ready after {timeout:.0f} s{': ' + _tail(proc) if proc else ''}")


def _tail(proc) -> str:  # type: ignore[no-untyped-def]
    log = getattr(proc, "log_path", None)
    return Path(log).read_text(errors="replace")[-3000:] if log else ""


class Processes:
    """Processes a test starts, each logging to a file; all stopped at teardown."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
        log_path = self.logs / f"{name}.log"
        full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=full_env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc.log_path = log_path  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=40)  # dev-up.sh gives its children 15 s each
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    yield procs
    procs.stop()


def api(path: str, body: dict | None = None):  # type: ignore[no-untyped-def]
    """One call to the Prefect API in force (the harness's, or a server a test started)."""
    from prefect.settings import PREFECT_API_URL

    url = f"{PREFECT_API_URL.value()}{path}"
    if body is None:
        response = httpx.get(url, timeout=30)
    else:
        response = httpx.post(url, json={"offset": 0, "limit": 200, **body}, timeout=30)
    response.raise_for_status()
    return response.json()


def artifacts(flow_run_id, key: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """The artifacts a flow run published under ``key``."""
    return api(
        "/artifacts/filter",
        {
            "artifacts": {"key": {"any_": [key]}, "flow_run_id": {"any_": [str(flow_run_id)]}},
            "sort": "CREATED_DESC",
        },
    )


def task_runs(flow_run_id) -> list[dict]:  # type: ignore[no-untyped-def]
    """Every task run of a flow run, as the UI lists them."""
    return api(
        "/task_runs/filter",
        {"flow_runs": {"id": {"any_": [str(flow_run_id)]}}, "sort": "EXPECTED_START_TIME_ASC"},
    )


def child_flow_runs(flow_run_id) -> dict[str, dict]:  # type: ignore[no-untyped-def]
    """Subflow runs of a flow run by flow name (``ingest``, ``retrain``, ...)."""
    runs = api(
        "/flow_runs/filter",
        {"flow_runs": {"parent_flow_run_id": {"any_": [str(flow_run_id)]}}, "sort": "ID_DESC"},
    )
    return {api(f"/flows/{r['flow_id']}")["name"]: r for r in runs}
