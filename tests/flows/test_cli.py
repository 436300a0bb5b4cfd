"""``bordercast pipeline``: the monthly run, once, now."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from bordercast.cli import app
from forecasting.errors import ConfigError


def test_pipeline_refuses_a_bad_release_date() -> None:
    result = CliRunner().invoke(app, ["pipeline", "--release-date", "2025-13-01", "x.csv"])
    assert isinstance(result.exception, ConfigError)
    assert "--release-date" in str(result.exception)


@pytest.mark.slow
def test_pipeline_runs_once_and_reports_each_step(flow_env, releases) -> None:
    first, _ = releases
    runner = CliRunner()
    assert runner.invoke(app, ["ingest", str(first)]).exit_code == 0
    result = runner.invoke(app, ["pipeline", str(first)])
    assert result.exit_code == 0, result.output
    assert "already ingested" in result.output
    assert "models and alerts left as they were" in result.output
    result = runner.invoke(app, ["pipeline", "--json", str(first)])
    assert json.loads(result.output[result.output.index("{") :])["retrain"] is None
