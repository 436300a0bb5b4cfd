"""The detect-and-notify flow over the real library."""

from __future__ import annotations

import pytest

from flows.pipeline import ALERTS_KEY, detect_and_notify, ingest
from tests.conftest import WORKBOOK
from tests.flows.conftest import artifacts

pytestmark = pytest.mark.slow


def test_detection_publishes_new_escalated_and_resolved_alerts(flow_env) -> None:
    assert ingest(sources=[str(WORKBOOK)], return_state=True).is_completed()
    # China's surge at the southwest border: May 2023 is well into it.
    state = detect_and_notify(as_of="2023-05", return_state=True)
    assert state.is_completed(), state.message
    result = state.result()
    (summary,) = artifacts(state.state_details.flow_run_id, ALERTS_KEY)
    assert summary["type"] == "markdown"
    assert f"## New: {result['opened']}" in summary["data"]
    assert "## Escalated:" in summary["data"] and "## Resolved:" in summary["data"]
