"""The deployment: its cron schedule, its sources, and what the CLI accepts."""

from __future__ import annotations

import importlib

import pytest
from typer.testing import CliRunner

from bordercast.cli import app
from flows import deployment
from flows import library as lib
from flows.pipeline import backfill, monthly_pipeline
from forecasting.errors import ConfigError


def test_default_deployment_runs_on_the_20th_and_pulls_the_cbp_release() -> None:
    d = deployment.build_deployment()
    (schedule,) = d.schedules
    assert (schedule.schedule.cron, schedule.schedule.timezone) == ("0 6 20 * *", "UTC")
    assert d.parameters == {"sources": [lib.CBP_NATIONWIDE_STATE]}
    assert d.name == "monthly" and "bordercast" in d.tags
    # The runner imports the flow by module path, from any working directory.
    module, _, name = d.entrypoint.rpartition(".")
    assert getattr(importlib.import_module(module), name) is monthly_pipeline


def test_schedule_and_sources_are_configurable() -> None:
    d = deployment.build_deployment("30 2 15 * *", ["/srv/cbp/*.csv"], "America/New_York")
    assert d.schedules[0].schedule.cron == "30 2 15 * *"
    assert d.schedules[0].schedule.timezone == "America/New_York"
    assert d.parameters == {"sources": ["/srv/cbp/*.csv"]}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"cron": "every month"}, "Invalid cron string"),
        ({"timezone": "Mars/Olympus"}, "Invalid timezone"),
        ({"sources": []}, "at least one"),
    ],
)
def test_a_bad_schedule_is_refused_before_anything_is_registered(kwargs, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        deployment.build_deployment(**kwargs)


def test_cli_deploy_refuses_a_bad_cron_with_exit_status_2() -> None:
    # main() maps ConfigError (a ValueError) to exit 2; through CliRunner it surfaces as is.
    result = CliRunner().invoke(app, ["deploy", "--cron", "61 * * * *", "x.csv"])
    assert isinstance(result.exception, ConfigError)
    assert "61 * * * *" in str(result.exception)


@pytest.mark.slow
def test_registered_deployment_carries_its_schedule(prefect_api: str) -> None:
    from tests.flows.conftest import api

    d = deployment.build_deployment(sources=["/srv/cbp/*.csv"])
    deployment_id = d.apply()
    stored = api(f"/deployments/{deployment_id}")
    assert stored["name"] == "monthly"
    assert stored["entrypoint"] == "flows.pipeline.monthly_pipeline"
    assert stored["parameters"] == {"sources": ["/srv/cbp/*.csv"]}
    (schedule,) = stored["schedules"]
    assert schedule["active"] is True
    assert schedule["schedule"]["cron"] == "0 6 20 * *"
    assert schedule["schedule"]["timezone"] == "UTC"
    by_name = api("/deployments/name/monthly-pipeline/monthly")
    assert by_name["id"] == str(deployment_id)


def test_the_backfill_is_deployed_unscheduled_beside_the_pipeline() -> None:
    d = deployment.build_backfill_deployment()
    assert d.name == "backfill" and not d.schedules and "bordercast" in d.tags
    module, _, name = d.entrypoint.rpartition(".")
    assert getattr(importlib.import_module(module), name) is backfill
