"""The ingest flow and the pipeline's ingest step, run against a real Prefect API."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from flows.pipeline import INGEST_KEY, ingest, monthly_pipeline
from forecasting.store import Store
from tests.factories import STATE_HEADER, state_row, write_csv
from tests.flows.conftest import artifacts, child_flow_runs, release, task_runs

pytestmark = pytest.mark.slow


def test_ingest_applies_each_release_and_publishes_the_summary(flow_env, releases) -> None:
    first, second = releases
    state = ingest(sources=[str(first), str(second)], return_state=True)
    assert state.is_completed(), state.message
    summaries = state.result()
    assert [s["already_ingested"] for s in summaries] == [False, False]
    assert summaries[0]["new"] > 0 and summaries[1]["revised"] > 0

    (table,) = artifacts(state.state_details.flow_run_id, INGEST_KEY)
    assert table["type"] == "table"
    assert str(first) in table["data"] and "applied" in table["data"]
    names = {t["name"] for t in task_runs(state.state_details.flow_run_id)}
    assert {f"fetch {first}", f"validate {first}", f"apply {second}"} <= names

    store = Store(flow_env.database_url)
    assert len(store.batches()) == 2

    again = ingest(sources=[str(first), str(second)], return_state=True)
    assert again.is_completed()
    assert [s["already_ingested"] for s in again.result()] == [True, True]
    names = {t["name"] for t in task_runs(again.state_details.flow_run_id)}
    assert not any(n.startswith(("validate", "apply")) for n in names)  # skipped by checksum
    assert len(store.batches()) == 2


def test_a_bad_release_fails_the_run_with_its_message_and_changes_nothing(
    flow_env, releases, tmp_path: Path
) -> None:
    good, _ = releases
    bad = write_csv(
        tmp_path / "bad.csv",
        STATE_HEADER,
        [state_row("2024", "OCT", "Southwest Land Border", "INDIA", "x")],
    )
    state = monthly_pipeline(sources=[str(good), str(bad)], return_state=True)
    assert state.is_failed()
    assert "bad.csv, line 2, column 'Encounter Count'" in state.message
    children = child_flow_runs(state.state_details.flow_run_id)
    assert set(children) == {"ingest"}  # retrain and detection never started
    assert children["ingest"]["state"]["type"] == "FAILED"
    # The good release was validated too, but nothing was applied.
    assert Store(flow_env.database_url).batches().empty


def test_pipeline_with_nothing_new_leaves_models_and_alerts_alone(flow_env, releases) -> None:
    first, _ = releases
    assert ingest(sources=[str(first)], return_state=True).is_completed()
    state = monthly_pipeline(sources=[str(first)], return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    assert result["retrain"] is None and result["alerts"] is None
    assert result["ingest"][0]["already_ingested"] is True
    assert set(child_flow_runs(state.state_details.flow_run_id)) == {"ingest"}


class Release(BaseHTTPRequestHandler):
    """A CBP stand-in: one release behind a 503 the first time, everything else 404."""

    body = b""
    path_ok = ""
    hits: ClassVar[dict[str, int]] = {}

    def do_GET(self) -> None:
        hits = self.hits[self.path] = self.hits.get(self.path, 0) + 1
        if self.path != self.path_ok:
            self.send_error(404)
        elif hits == 1:
            self.send_error(503)
        else:
            self.send_response(200)
            self.send_header("Content-Length", str(len(self.body)))
            self.end_headers()
            self.wfile.write(self.body)

    def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
        pass


@pytest.fixture
def cbp(tmp_path: Path) -> Iterator[str]:
    path = release(tmp_path / "r.csv", [("2025", "OCT"), ("2025", "NOV")])
    Release.body = path.read_bytes()
    Release.path_ok = "/files/2024-12/nationwide-encounters-fy22-fy25-nov-state.csv"
    Release.hits = {}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Release)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_downloads_retry_a_5xx_but_not_a_4xx(flow_env, cbp: str) -> None:
    pattern = cbp + "/files/{published}/nationwide-encounters-fy{fy_first}-fy{fy}-{month}-state.csv"
    state = ingest(sources=[pattern], release_date=dt.date(2024, 12, 20), return_state=True)
    assert state.is_completed(), state.message
    assert state.result()[0]["new"] > 0
    (fetch,) = [
        t for t in task_runs(state.state_details.flow_run_id) if t["name"].startswith("fetch")
    ]
    assert (
        fetch["run_count"] == 2 and fetch["state"]["type"] == "COMPLETED"
    )  # the 503, then the file

    state = ingest(sources=[cbp + "/files/missing.csv"], return_state=True)
    assert state.is_failed() and "HTTP 404" in state.message
    (fetch,) = [
        t for t in task_runs(state.state_details.flow_run_id) if t["name"].startswith("fetch")
    ]
    assert fetch["run_count"] == 1  # a client error is not retried
    assert Release.hits[cbp.removeprefix(cbp) + "/files/missing.csv"] == 1
