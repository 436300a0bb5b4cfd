"""The scheduled deployment of the monthly pipeline.

``bordercast deploy`` serves it: the process registers the deployment with
the Prefect API (``PREFECT_API_URL``; the local server at
http://127.0.0.1:4200/api under ``make up``), keeps its cron schedule, and
runs each scheduled or hand-triggered run itself, so no work pool or worker
is needed. Stopping the process pauses the schedule.

CBP posts a month's encounters in the middle of the next month; the default
schedule runs on the 20th at 06:00 UTC, and a release already ingested is
skipped by its checksum, so running twice in a month does no harm.
"""

from __future__ import annotations

from prefect import serve
from prefect.deployments.runner import EntrypointType, RunnerDeployment
from prefect.schedules import Cron

from flows import library as lib
from flows.pipeline import backfill, monthly_pipeline

DEPLOYMENT_NAME = "monthly"
#: 06:00 on the 20th of every month.
DEFAULT_CRON = "0 6 20 * *"
DEFAULT_TIMEZONE = "UTC"
DEFAULT_SOURCES = (lib.CBP_NATIONWIDE_STATE,)


def build_deployment(
    cron: str = DEFAULT_CRON,
    sources: list[str] | tuple[str, ...] = DEFAULT_SOURCES,
    timezone: str = DEFAULT_TIMEZONE,
    name: str = DEPLOYMENT_NAME,
) -> RunnerDeployment:
    """The pipeline as a deployment with its schedule and the sources each run pulls.

    Raises
    ------
    ConfigError
        When ``cron`` is not a valid five-field cron expression, ``timezone``
        is not an IANA name, or no source is given (checked here, before
        anything is registered).
    """
    if not sources:
        raise lib.ConfigError("sources: give at least one path, glob or URL pattern")
    try:
        # Called from sync code, Prefect's async_dispatch returns the deployment itself;
        # its annotation also allows the coroutine of the async variant.
        return monthly_pipeline.to_deployment(  # type: ignore[return-value]
            name=name,
            schedules=[Cron(cron, timezone=timezone)],
            parameters={"sources": list(sources)},
            tags=["bordercast", "monthly"],
            description=(
                "Ingest the month's CBP release, retrain every series, refresh forecasts, "
                f"detect surges and send alerts. Sources: {', '.join(sources)}"
            ),
            # Served from an installed package: import by module, whatever the working directory.
            entrypoint_type=EntrypointType.MODULE_PATH,
        )
    except ValueError as exc:  # pydantic's ValidationError included
        reason = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
        raise lib.ConfigError(f"schedule {cron!r} in {timezone!r}: {reason}") from None


def build_backfill_deployment() -> RunnerDeployment:
    """The backfill flow, unscheduled: run from the UI with the months to keep plans of."""
    return backfill.to_deployment(  # type: ignore[return-value]
        name="backfill",
        tags=["bordercast", "backfill"],
        description=(
            "Keep the training plans of past months (first..last, YYYY-MM), so as-of "
            "forecasts of those months are exact; about 35 s per month on the bundled data."
        ),
        entrypoint_type=EntrypointType.MODULE_PATH,
    )


def serve_deployment(deployment: RunnerDeployment, limit: int = 1) -> None:
    """Register ``deployment`` and the backfill beside it; run their flow runs (blocks).

    ``limit`` runs at a time: two monthly runs never overlap, and a backfill
    never competes with a retrain for the two cores.
    """
    serve(deployment, build_backfill_deployment(), limit=limit)
