"""The monthly run as Prefect flows: ingest, retrain, detect-and-notify, and the pipeline.

Each flow only sequences tasks; each task is one call through
:mod:`flows.library` into ``forecasting``. Tasks that touch the outside world
(downloads, SMTP and webhooks) retry with exponential backoff, and only when
another attempt could help (:func:`flows.library.retryable`). Stores are
opened inside tasks from the database URL, so every task can run in a thread,
a process or on a Dask worker (:mod:`flows.runners`).

What a run leaves in the Prefect UI: task runs named after their file or
series, the tags ``bordercast`` plus the step, and three keyed artifacts
whose history spans runs: ``bordercast-ingest`` (table), ``bordercast-backtests``
(table) and ``bordercast-alerts`` (markdown).

A bad release fails ``validate`` with the reader's message (file, line,
column) before anything is applied, so data, models and alerts stay as they
were. A series that fails to train is listed in ``bordercast-backtests`` and
keeps its previous model; the run fails only if every series fails.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task, unmapped
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import TaskRun
from prefect.futures import PrefectFuture
from prefect.runtime import task_run
from prefect.states import State
from prefect.tasks import Task, exponential_backoff

from flows import library as lib
from flows.runners import build_task_runner, describe

#: Seconds before the first retry of a download or delivery; each retry doubles it.
RETRY_BASE_SECONDS = 10.0
INGEST_KEY = "bordercast-ingest"
BACKTESTS_KEY = "bordercast-backtests"
ALERTS_KEY = "bordercast-alerts"

# Inputs are bytes, frames and plans: never hash them for a cache key.
PLAIN: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False}


class RetrainFailed(lib.BordercastError):
    """Every series failed to train: something is wrong beyond one series."""


def retry_if_transient(task: Task[Any, Any], run: TaskRun, state: State[Any]) -> bool:
    """Prefect's ``retry_condition_fn``: retry 5xx, timeouts, refused connections; not 4xx."""
    exc = state.result(raise_on_failure=False)
    return isinstance(exc, BaseException) and lib.retryable(exc)


def _backoff(retries: int) -> list[float]:
    return exponential_backoff(backoff_factor=RETRY_BASE_SECONDS)(max(retries, 1))


# -- ingest --------------------------------------------------------------------------


@task(
    name="fetch",
    task_run_name="fetch {location}",
    tags=["bordercast", "ingest", "network"],
    retries=3,
    retry_delay_seconds=_backoff(3),
    retry_condition_fn=retry_if_transient,
    **PLAIN,
)
def fetch_release(location: str, timeout: float = 30.0) -> bytes:
    """The release's bytes: one attempt per try, so each retry shows in the UI."""
    return lib.fetch(location, timeout=timeout)


@task(name="checksum", task_run_name="checksum {location}", tags=["bordercast", "ingest"], **PLAIN)
def check_checksum(database_url: str, location: str, raw: bytes) -> tuple[str, dict | None]:
    """The sha256, and the earlier summary when this exact release was ingested before."""
    checksum = lib.sha256(raw)
    known = lib.known_release(lib.open_store(database_url), location, checksum)
    if known is not None:
        get_run_logger().info("%s: already ingested (sha256 %s), skipped", location, checksum[:12])
    return checksum, known.as_dict() if known else None


@task(name="validate", task_run_name="validate {location}", tags=["bordercast", "ingest"], **PLAIN)
def validate_release(location: str, raw: bytes) -> lib.Reading | lib.TransitReading:
    """Parse and check the whole file; the error names file, line and column."""
    reading = lib.read_release(location, raw)
    get_run_logger().info("%s: %s, %d rows valid", location, reading.source, reading.rows)
    return reading


@task(name="apply", task_run_name="apply {location}", tags=["bordercast", "ingest"], **PLAIN)
def apply_release(
    database_url: str, location: str, checksum: str, reading: lib.Reading | lib.TransitReading
) -> dict[str, Any]:
    """One transaction per release; the newer release's value stands."""
    summary = lib.apply_release(lib.open_store(database_url), location, checksum, reading)
    get_run_logger().info(
        "%s: %d new, %d revised, %d unchanged values",
        location,
        summary.new,
        summary.revised,
        summary.unchanged,
    )
    return summary.as_dict()


@flow(name="ingest", log_prints=False)
def ingest(sources: list[str], release_date: dt.date | None = None) -> list[dict[str, Any]]:
    """Fetch every source, validate all of them, then apply each one.

    ``sources`` are paths, globs or URL patterns (see
    :func:`flows.library.expand_sources`, filled for ``release_date``, default
    today). Validation of every new release happens before the first is
    applied, so one bad file leaves the store exactly as it was.
    """
    logger = get_run_logger()
    settings = lib.get_settings()
    lib.open_store(settings.database_url, migrate=True)
    locations = lib.expand_sources(sources, release_date or dt.date.today())
    logger.info("sources: %s", ", ".join(locations) or "none")
    fetch = fetch_release.with_options(
        retries=settings.download_retries, retry_delay_seconds=_backoff(settings.download_retries)
    )
    summaries: list[dict[str, Any]] = []
    new: list[tuple[str, bytes, str]] = []
    for location in locations:
        raw = fetch(location, settings.download_timeout)
        checksum, known = check_checksum(settings.database_url, location, raw)
        if known is not None:
            summaries.append(known)
        else:
            new.append((location, raw, checksum))
    readings = validate_release.map([n[0] for n in new], [n[1] for n in new]).result()
    for (location, _, checksum), reading in zip(new, readings, strict=True):
        summaries.append(apply_release(settings.database_url, location, checksum, reading))
    publish_ingest(summaries)
    return summaries


def ingest_rows(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``bordercast-ingest`` table: one row per release this run looked at."""
    return [
        {
            "file": s["file"],
            "status": "already ingested" if s["already_ingested"] else "applied",
            "source": s["source"],
            "months": f"{s['first_month']}..{s['last_month']}",
            "rows": s["rows"],
            "new": s["new"],
            "revised": s["revised"],
            "unchanged": s["unchanged"],
            "kept newer": s["superseded"],
            "sha256": s["sha256"][:12],
        }
        for s in summaries
    ]


def publish_ingest(summaries: list[dict[str, Any]]) -> None:
    if summaries:
        create_table_artifact(
            ingest_rows(summaries), key=INGEST_KEY, description="Releases ingested this run"
        )
    else:
        create_markdown_artifact(
            "No release to ingest: every source pattern matched nothing.", key=INGEST_KEY
        )


# -- retrain -------------------------------------------------------------------------


def _batch_name() -> str:
    ids = task_run.parameters.get("series_ids") or ["(none)"]
    return f"train {ids[0]}" + (f" +{len(ids) - 1}" if len(ids) > 1 else "")


@task(name="plan", tags=["bordercast", "train"], **PLAIN)
def plan_training(database_url: str, series_ids: list[str] | None) -> lib.TrainingPlan:
    """Read the data once: the cut-off and the series to train."""
    return lib.plan(lib.open_store(database_url), series_ids)


@task(name="train", task_run_name=_batch_name, tags=["bordercast", "train"], **PLAIN)
def train_batch(plan: Any, series_ids: list[str]) -> list[Any]:
    """Train and backtest a batch; a series that fails is returned as failed, not raised."""
    logger = get_run_logger()
    results = [lib.train_one(plan, uid) for uid in series_ids]
    for r in results:
        if not r.ok:
            logger.warning("%s: %s", r.unique_id, r.error)
    return results


@task(name="commit", tags=["bordercast", "train"], **PLAIN)
def commit_models(database_url: str, plan: Any, results: list[Any]) -> dict[str, Any]:
    """Save every new model and forecast in one step; the service switches over at once."""
    return lib.commit(lib.open_store(database_url), plan, results)


def gather(futures: list[PrefectFuture[Any]], batches: list[list[str]]) -> list[Any]:
    """Every series' result; a lost batch (crashed worker) lists its series as failed."""
    results: list[Any] = []
    for future, batch in zip(futures, batches, strict=True):
        future.wait()
        if future.state.is_completed():
            results.extend(future.result())
        else:
            reason = f"batch {future.state.name}: {future.state.message}"
            results.extend(lib.SeriesFailure(uid, reason) for uid in batch)
    return results


@flow(name="retrain", log_prints=False)
def retrain(series_ids: list[str] | None = None, batch_size: int = 8) -> dict[str, Any]:
    """Train every series (or ``series_ids``) in batches on the configured task runner."""
    logger = get_run_logger()
    url = lib.get_settings().database_url
    plan = plan_training(url, series_ids)
    ids = list(plan.series_ids)
    batches = [ids[i : i + batch_size] for i in range(0, len(ids), batch_size)]
    logger.info("training %d series in %d batches on %s", len(ids), len(batches), describe())
    results = gather(list(train_batch.map(unmapped(plan), batches)), batches)
    summary = commit_models(url, plan, results)
    publish_backtests(results)
    failed = sorted(r.unique_id for r in results if not r.ok)
    if ids and len(failed) == len(ids):
        raise RetrainFailed(f"all {len(ids)} series failed to train; first: {results[0].error}")
    return {**summary, "trained": len(ids) - len(failed), "failed": failed}


BACKFILL_KEY = "bordercast-backfill"


@task(name="keep-plan", task_run_name="keep plan {month}", tags=["bordercast", "train"], **PLAIN)
def keep_plan(database_url: str, month: str) -> dict[str, Any]:
    """Build and keep one month's training plan, unless it is kept already."""
    return lib.keep_plan(lib.open_store(database_url), month)


@flow(name="backfill", log_prints=False)
def backfill(first: str, last: str | None = None) -> list[dict[str, Any]]:
    """Keep the training plans of months ``first``..``last`` (YYYY-MM), one task per month.

    Each plan pools every series and takes about 35 s on the bundled store;
    afterwards as-of forecasts of those months are exact. Months run one
    after another: each plan already uses both cores.
    """
    try:
        months = pd.period_range(pd.Period(first, "M"), pd.Period(last or first, "M"), freq="M")
    except ValueError as exc:
        raise lib.ConfigError(f"backfill months {first!r}..{last!r}: {exc}") from None
    if months.empty:
        raise lib.ConfigError(f"backfill: last month {last} is before first month {first}")
    url = lib.get_settings().database_url
    done = [keep_plan(url, str(m)) for m in months]
    create_table_artifact(
        key=BACKFILL_KEY,
        table=done,
        description=f"Training plans kept for as-of forecasts, {months[0]}..{months[-1]}",
    )
    return done


def _figure(value: Any) -> Any:
    return round(value, 3) if isinstance(value, float) else value


def backtest_rows(results: list[Any]) -> list[dict[str, Any]]:
    """The ``bordercast-backtests`` table: failures first, then one row per series.

    Columns ``<model> <metric>`` come from each result's ``metrics``, e.g.
    ``model AvgRelMAE``, ``random_walk AvgRelMAE``, ``seasonal_naive AvgRelMAE``.
    """
    rows = []
    for r in sorted(results, key=lambda r: (r.ok, r.unique_id)):
        row: dict[str, Any] = {
            "series": r.unique_id,
            "status": "ok" if r.ok else "failed",
            "error": "" if r.ok else str(r.error),
        }
        for model, figures in (r.metrics or {}).items():
            for name, value in (figures or {}).items():
                row[f"{model} {name}"] = _figure(value)
        rows.append(row)
    columns = list(dict.fromkeys(c for row in rows for c in row))
    return [{c: row.get(c, "") for c in columns} for row in rows]


def publish_backtests(results: list[Any]) -> None:
    failed = sum(not r.ok for r in results)
    create_table_artifact(
        backtest_rows(results),
        key=BACKTESTS_KEY,
        description=f"{len(results) - failed} series retrained, {failed} failed; "
        "backtest figures of the served model against the baselines",
    )


# -- detect and notify ---------------------------------------------------------------


@task(name="detect", tags=["bordercast", "alerts"], **PLAIN)
def detect_surges(database_url: str, as_of: str | None) -> dict[str, list[dict[str, Any]]]:
    """Open, escalate and resolve alerts for the newest month; queue their notifications."""
    found = lib.run_detection(lib.open_store(database_url), as_of=as_of)
    get_run_logger().info(
        "alerts: %s", ", ".join(f"{len(v)} {k}" for k, v in found.items()) or "none"
    )
    return found


@task(
    name="deliver",
    tags=["bordercast", "alerts", "network"],
    retries=3,
    retry_delay_seconds=_backoff(3),
    retry_condition_fn=retry_if_transient,
    **PLAIN,
)
def deliver_notifications(database_url: str) -> dict[str, int]:
    """Send the outbox by email and webhook; a retry ignores the outbox's own backoff."""
    counts = lib.deliver_pending(lib.open_store(database_url), force=task_run.run_count > 1)
    get_run_logger().info("notifications: %s", counts)
    if counts["failed"]:
        raise lib.DeliveryError(
            f"{counts['failed']} notification(s) failed, {counts['pending']} still queued",
            retryable=True,
        )
    return counts


@flow(name="detect-and-notify", log_prints=False)
def detect_and_notify(as_of: str | None = None) -> dict[str, Any]:
    """Detect surges for the newest month (or ``as_of``, ``YYYY-MM``) and send alerts."""
    url = lib.get_settings().database_url
    found = detect_surges(url, as_of)
    create_markdown_artifact(alerts_markdown(found, as_of), key=ALERTS_KEY)
    delivered = deliver_notifications(url)
    return {**{k: len(v) for k, v in found.items()}, "delivery": delivered}


def _alert_line(a: dict[str, Any]) -> str:
    who = a.get("citizenship") or {}
    name = f"{who.get('name', '?')} ({who.get('code', '?')})" if isinstance(who, dict) else who
    observed, expected = a.get("observed"), a.get("expected")
    ratio = f"{observed / expected:.1f}x" if observed and expected else ""
    return (
        f"| {name} | {a.get('region', '')} | {a.get('component', '')} | {a.get('month', '')} "
        f"| {a.get('kind', '')} | {a.get('severity', '')} | {_count(observed)} "
        f"| {_count(expected)} | {ratio} |"
    )


def _count(value: Any) -> str:
    return f"{value:,.0f}" if isinstance(value, int | float) else ""


def alerts_markdown(found: dict[str, list[dict[str, Any]]], as_of: str | None = None) -> str:
    """The ``bordercast-alerts`` summary: new, escalated and resolved alerts, one table each."""
    lines = [f"# Surge alerts{f' as of {as_of}' if as_of else ''}", ""]
    for key, title in (("opened", "New"), ("escalated", "Escalated"), ("resolved", "Resolved")):
        alerts = found.get(key, [])
        lines.append(f"## {title}: {len(alerts)}")
        lines.append("")
        if alerts:
            lines.append(
                "| citizenship | region | component | month | kind | severity "
                "| observed | expected | ratio |"
            )
            lines.append("|---|---|---|---|---|---|---:|---:|---:|")
            lines.extend(_alert_line(a) for a in alerts)
        else:
            lines.append("None.")
        lines.append("")
    return "\n".join(lines)


# -- the monthly pipeline ------------------------------------------------------------


@flow(name="monthly-pipeline", log_prints=False)
def monthly_pipeline(
    sources: list[str] | None = None,
    release_date: dt.date | None = None,
    force: bool = False,
    batch_size: int = 8,
    as_of: str | None = None,
) -> dict[str, Any]:
    """Ingest the month's release, then retrain and detect if it changed anything.

    ``sources`` default to the CBP nationwide release pattern. With nothing
    new or revised (the release was ingested before), models and alerts are
    left as they are unless ``force``. A failed ingest stops the run there.
    """
    logger = get_run_logger()
    sources = sources if sources is not None else [lib.CBP_NATIONWIDE_STATE]
    summaries = ingest.with_options(task_runner=build_task_runner())(sources, release_date)
    changed = sum(s["new"] + s["revised"] for s in summaries)
    if not changed and not force:
        logger.info("no new or revised counts: models and alerts left as they were")
        return {"ingest": summaries, "retrain": None, "alerts": None}
    trained = retrain.with_options(task_runner=build_task_runner())(batch_size=batch_size)
    alerts = detect_and_notify(as_of=as_of)
    return {"ingest": summaries, "retrain": trained, "alerts": alerts}
