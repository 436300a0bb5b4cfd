"""``bordercast``: the command line.

Every command is a thin call into ``forecasting``; errors become exit codes in
:func:`main` only. Commands that print data take ``--json``.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import pandas as pd
import typer
from pydantic import ValidationError

from forecasting.errors import BordercastError
from forecasting.settings import get_settings
from forecasting.store import Store

app = typer.Typer(
    name="bordercast",
    help="Forecasts and surge warnings for U.S. border encounters by citizenship.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
MonthOption = Annotated[
    str | None, typer.Option("--as-of", help="Use only the data through this month (YYYY-MM).")
]


def open_store() -> Store:
    """The store named by ``BORDERCAST_DATABASE_URL``, migrated to the newest schema."""
    return Store(get_settings().database_url)


def emit(data: object) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


def table(rows: list[dict[str, object]], columns: list[str]) -> None:
    """A plain aligned table: readable in a terminal and in a log."""
    widths = {c: max([len(c), *(len(str(r[c])) for r in rows)]) for c in columns}
    typer.echo("  ".join(c.ljust(widths[c]) for c in columns))
    for row in rows:
        typer.echo("  ".join(str(row[c]).ljust(widths[c]) for c in columns))


@app.command()
def ingest(
    locations: Annotated[list[str], typer.Argument(help="Files or http(s) URLs, any format.")],
    as_json: JsonOption = False,
) -> None:
    """Ingest OHSS workbooks and CBP releases; each file is applied whole or not at all."""
    from forecasting.ingest import ingest as ingest_one

    settings = get_settings()
    store = open_store()
    summaries = [
        ingest_one(store, loc, retries=settings.download_retries, timeout=settings.download_timeout)
        for loc in locations
    ]
    if as_json:
        emit([s.as_dict() for s in summaries])
        return
    for s in summaries:
        note = " (already ingested: nothing changed)" if s.already_ingested else ""
        typer.echo(
            f"{s.file}: {s.source}, {s.rows} rows read, months {s.first_month}..{s.last_month}, "
            f"{s.series} series; values {s.new} new, {s.revised} revised, "
            f"{s.unchanged} unchanged, {s.superseded} kept from a newer release{note}"
        )


@app.command()
def series(as_json: JsonOption = False) -> None:
    """List every series with its first and last month and its last count."""
    rows = [
        {
            "code": s.code,
            "name": s.name,
            "region": s.region,
            "component": s.component,
            "first_month": s.first_month,
            "last_month": s.last_month,
            "last_count": s.last_count,
            "reporting": s.reporting,
        }
        for s in open_store().series()
    ]
    if as_json:
        emit(rows)
    else:
        table(
            rows,
            [
                "code",
                "name",
                "region",
                "component",
                "first_month",
                "last_month",
                "last_count",
                "reporting",
            ],
        )


# -- transit indicators (issue 11) ----------------------------------------------


@app.command()
def indicators(
    citizenship: Annotated[str, typer.Argument(help="Code or name: CN, China, CHN.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Use only what was public then (YYYY-MM).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Transit indicators of a citizenship and how many months each leads its encounters."""
    from forecasting.indicators import indicators_for, parse_month

    if as_of is not None:
        try:
            parse_month(as_of)
        except ValueError as exc:
            # Reported here: main() sees neither typer.BadParameter (typer vendors its
            # own click) nor typer.Exit (app() returns its code with standalone_mode=False).
            typer.echo(f"error: --as-of: {exc}", err=True)
            sys.exit(2)
    data = indicators_for(open_store(), citizenship, as_of=as_of)
    if as_json:
        emit(data)
        return
    who, enc = data["citizenship"], data["encounters"]
    against = f"southwest {enc['component']}" if enc else "no encounter series in the store"
    typer.echo(
        f"{who['name']} ({who['code']}): transit indicators against {against}"
        f"{', as of ' + data['as_of'] if data['as_of'] else ''}"
    )
    rows = []
    for item in data["indicators"]:
        last = item["history"][-1] if item["history"] else {"month": "-", "count": "-"}
        rel = item["relation"]
        rows.append(
            {
                "id": item["id"],
                "geo": item["geo"],
                "lag": item["lag_months"],
                "last_month": last["month"],
                "last_count": last["count"],
                "lead": "-" if rel["lead_months"] is None else rel["lead_months"],
                "correlation": "-" if rel["correlation"] is None else f"{rel['correlation']:.3f}",
                "months": f"{rel['start']}..{rel['end']} ({rel['n']})" if rel["n"] else "-",
            }
        )
    if rows:
        table(rows, list(rows[0]))
    else:
        typer.echo("no transit indicator series for this citizenship; ingest data/transit/")


# -- end transit indicators -----------------------------------------------------


SourcesArgument = Annotated[
    list[str] | None,
    typer.Argument(
        help="Paths, globs or URL patterns ({published}, {month}, {fy}, {fy_first}); "
        "default: the CBP nationwide release by state.",
        envvar="BORDERCAST_PIPELINE_SOURCES",
        show_default=False,
    ),
]


# -- models and forecasts -------------------------------------------------------


@app.command()
def train(
    series: Annotated[
        list[str] | None, typer.Option(help="Only these series, e.g. CN:southwest:all (repeat).")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes fitting series.")] = 2,
    prophet: Annotated[
        bool, typer.Option("--prophet", help="Add Prophet with the policy regressors.")
    ] = False,
    indicators: Annotated[
        bool | None,
        typer.Option(
            "--indicators/--no-indicators",
            help="Use transit indicators where a backtest says they help "
            "(default: BORDERCAST_TRAIN_INDICATORS, off).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Backtest, choose and fit every series; register the models and their forecasts."""
    from forecasting.training import train as train_all

    typer.echo(
        "training: backtesting the candidates, then fitting every series "
        "(several minutes on 2 cores)...",
        err=True,
    )
    summary = train_all(
        open_store(),
        series,
        workers=workers,
        progress=sys.stderr.isatty(),
        with_prophet=prophet,
        with_indicators=indicators,
    )
    if as_json:
        emit(summary)
        return
    overall = summary["summary"]
    typer.echo(
        f"trained {summary['trained']} series as of {summary['cutoff']} in "
        f"{summary['seconds']['total']} s; served: {summary['chosen']}; "
        f"{len(summary['stopped'])} stopped reporting (not forecast); "
        f"{len(summary['failed'])} failed"
    )
    rows = [
        {"model": m, **{k: v.get(k) for k in ("rel_mae", "worst_h", "cov-80", "cov-95")}}
        for m, v in overall.items()
    ]
    table(rows, ["model", "rel_mae", "worst_h", "cov-80", "cov-95"])
    for uid, error in summary["failed"].items():
        typer.echo(f"  failed {uid}: {error}")


RegionOption = Annotated[str, typer.Option(help="southwest, northern, other or all.")]
ComponentOption = Annotated[str, typer.Option(help="usbp, ofo or all.")]


@app.command()
def forecast(
    citizenship: Annotated[str, typer.Argument(help="Code or name: CN, China, CHN.")],
    region: RegionOption = "southwest",
    component: ComponentOption = "all",
    horizon: Annotated[int, typer.Option(min=1, max=24, help="Months ahead.")] = 12,
    level: Annotated[int, typer.Option(help="Interval level: 80 or 95.")] = 80,
    as_of: MonthOption = None,
    quick: Annotated[
        bool,
        typer.Option(
            "--quick",
            help="With --as-of: if no plan of that month is kept, refit the series alone "
            "instead of building one.",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Forecast one series, from the current model or as the model would have then."""
    from forecasting.forecasts import get_forecast

    if as_of is not None and not quick:
        typer.echo(
            f"as of {as_of}: the training plan of that month, built first if not kept "
            "(about a minute, once)...",
            err=True,
        )
    found = get_forecast(
        open_store(), citizenship, region, component, horizon, level, _month(as_of), not quick
    )
    if as_json:
        emit(found)
        return
    who = found["citizenship"]
    typer.echo(
        f"{who['name']} ({who['code']}), {region}, {component}: as of {found['as_of']}, "
        f"model {found['model'].get('kind')} v{found['model'].get('version')}"
    )
    if found["message"]:
        typer.echo(found["message"])
    if found["forecast"]:
        table(found["forecast"], ["month", "mean", "lower", "upper"])


@app.command()
def backfill(
    first: Annotated[str, typer.Option("--from", help="First month (YYYY-MM).")],
    last: Annotated[
        str | None, typer.Option("--to", help="Last month (YYYY-MM); default --from.")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Processes per plan.")] = 2,
    as_json: JsonOption = False,
) -> None:
    """Keep the training plan of each month, so as-of forecasts of those months are exact."""
    from forecasting.backfill import backfill as run

    start = _month(first, "--from")
    months = pd.period_range(start, _month(last, "--to") or start, freq="M")
    if months.empty:
        raise typer.BadParameter(f"--to {last} is before --from {first}")
    typer.echo(f"{len(months)} month(s): about 35 s each where no plan is kept yet", err=True)
    done = run(open_store(), [p.to_timestamp() for p in months], n_jobs=workers)
    if as_json:
        emit(done)
        return
    table(done, ["month", "config", "status", "seconds"])


@app.command()
def backtest(
    citizenship: Annotated[str, typer.Argument(help="Code or name: CN, China, CHN.")],
    region: RegionOption = "southwest",
    component: ComponentOption = "all",
    as_json: JsonOption = False,
) -> None:
    """The rolling-origin backtest stored with the current model, against the baselines."""
    from forecasting.forecasts import get_backtest

    found = get_backtest(open_store(), citizenship, region, component)
    if as_json:
        emit(found)
        return
    rows = [
        {
            "model": m,
            **{
                k: v.get("all", {}).get(k) for k in ("rel_mae", "mase", "smape", "cov-80", "cov-95")
            },
        }
        for m, v in found["models"].items()
    ]
    typer.echo(f"served: {found['chosen']}, data to {found['model']['data_cutoff']}")
    table(rows, ["model", "rel_mae", "mase", "smape", "cov-80", "cov-95"])


def _indicator_path(value: str) -> dict[str, object]:
    """``SOURCE:CHANGE_PCT[:FROM]`` (``panama-darien:-90:2025-01``) as the library's edit."""
    parts = value.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        change = float(parts[1])
    except ValueError:
        message = f"{value!r} is not SOURCE:CHANGE_PCT[:FROM], such as panama-darien:-90:2025-01"
        raise typer.BadParameter(message, param_hint="--indicator") from None
    path: dict[str, object] = {"source": parts[0], "change_pct": change}
    if len(parts) == 3:
        path["from"] = _month(parts[2], "--indicator")
    return path


@app.command()
def scenario(
    citizenship: Annotated[str, typer.Argument(help="Code or name: CN, China, CHN.")],
    region: RegionOption = "southwest",
    component: ComponentOption = "all",
    indicator: Annotated[
        list[str] | None,
        typer.Option(
            "--indicator",
            help="A transit indicator path, SOURCE:CHANGE_PCT[:FROM], such as "
            "panama-darien:-90 (from the month after its last published one) or "
            "panama-darien:-90:2025-01; repeatable, one per source.",
        ),
    ] = None,
    remove_event: Annotated[
        list[str] | None,
        typer.Option("--remove-event", help="A policy event id to leave out; repeatable."),
    ] = None,
    horizon: Annotated[int, typer.Option(min=1, max=24, help="Months ahead.")] = 12,
    level: Annotated[int, typer.Option(help="Interval level: 80 or 95.")] = 80,
    as_json: JsonOption = False,
) -> None:
    """The current forecast beside a scenario: policy events left out, indicator paths edited."""
    from forecasting.forecasts import scenario_forecast

    found = scenario_forecast(
        open_store(),
        citizenship,
        region,
        component,
        remove_event_ids=list(remove_event or []),
        horizon=horizon,
        level=level,
        indicators=[_indicator_path(v) for v in indicator or []],
    )
    if as_json:
        emit(found)
        return
    base = found["baseline"]
    who = base["citizenship"]
    typer.echo(f"{who['name']} ({who['code']}), {region}, {component}: as of {base['as_of']}")
    for path in found.get("indicators", []):
        typer.echo(
            f"{path['id']}: {path['change_pct']:+g}% from {path['from']}, lead "
            f"{path['lead_months']} month(s), correlation {path['correlation']}"
            + (f"; {path['note']}" if path["note"] else "")
        )
    rows = [
        {
            "month": b["month"],
            "baseline": b["mean"],
            **{k: s[k] for k in ("mean", "lower", "upper")},
        }
        for b, s in zip(base["forecast"], found["scenario"]["forecast"], strict=True)
    ]
    if rows:
        table(rows, ["month", "baseline", "mean", "lower", "upper"])


# -- surges, alerts and their delivery --------------------------------------------


def _month(value: str | None, option: str = "--as-of") -> str | None:
    """Check a YYYY-MM option here, so a typo is one line naming the option."""
    if value is None:
        return None
    try:
        return pd.Period(value, freq="M").strftime("%Y-%m")
    except ValueError:
        message = f"{value!r} is not a month such as 2023-07"
        raise typer.BadParameter(message, param_hint=option) from None


@app.command()
def detect(
    as_of: MonthOption = None,
    citizenship: Annotated[str | None, typer.Option(help="Code or name, e.g. CN.")] = None,
    region: Annotated[str | None, typer.Option(help="southwest, northern, other, all.")] = None,
    notify: Annotated[
        bool, typer.Option("--notify", help="Store the alerts and queue their notifications.")
    ] = False,
    transit_watch: Annotated[
        bool | None,
        typer.Option(
            "--transit-watch/--no-transit-watch",
            help="Let Darién and Ecuador-entries jumps open watches "
            "(default: BORDERCAST_TRANSIT_WATCH, off).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Detect surges and drops with only the data up to a month (a replay sends nothing)."""
    from forecasting.alerts import detect_as_of, run_detection
    from forecasting.names import resolve
    from forecasting.surges import SurgeSettings

    store = open_store()
    code = resolve(citizenship).code if citizenship else None
    month = _month(as_of)
    settings = None if transit_watch is None else SurgeSettings(use_indicators=transit_watch)
    if notify:
        found = run_detection(
            store, month, notify=True, settings=settings, base_url=get_settings().base_url
        )
        emit(found)
        return
    found = detect_as_of(store, month, citizenship=code, region=region, settings=settings)
    for alert in found["alerts"]:
        alert.pop("events", None)
        alert.pop("unique_id", None)
    if as_json:
        emit(found)
        return
    typer.echo(f"alerts as of {found['as_of']}: {len(found['alerts'])}")
    _alert_table(found["alerts"])


def _alert_table(alerts: list[dict]) -> None:
    rows = [
        {
            **a,
            "citizenship": a["citizenship"]["code"],
            "observed": a["observed"],
            "expected": a["expected"],
        }
        for a in alerts
    ]
    if rows:
        table(
            rows,
            [
                "citizenship",
                "region",
                "component",
                "month",
                "kind",
                "severity",
                "observed",
                "expected",
                "status",
            ],
        )


@app.command()
def alerts(
    status: Annotated[str | None, typer.Option(help="open, escalated or resolved.")] = None,
    citizenship: Annotated[str | None, typer.Option(help="Code or name, e.g. CN.")] = None,
    as_json: JsonOption = False,
) -> None:
    """The stored alerts, and the notifications still pending or failed."""
    from forecasting.alerts import list_alerts
    from forecasting.names import resolve
    from forecasting.notify import count_by_status, list_outbox

    store = open_store()
    code = resolve(citizenship).code if citizenship else None
    found = list_alerts(store, citizenship=code, status=status)
    with store.engine.connect() as conn:
        counts = count_by_status(conn)
        failed = [vars(e) for e in list_outbox(conn, status="failed")]
    if as_json:
        emit({"alerts": found, "notifications": counts, "failed": failed})
        return
    _alert_table(found)
    for alert in found:
        if alert["reason"]:  # a watch a transit indicator opened
            typer.echo(f"{alert['id']} opened by: {alert['reason']}")
    typer.echo(f"notifications: {counts or 'none'}")
    for entry in failed:
        typer.echo(
            f"  failed #{entry['id']} {entry['channel']} {entry['target']}: {entry['last_error']}"
        )


@app.command()
def subscribe(
    channel: Annotated[str, typer.Argument(help="email or webhook.")],
    target: Annotated[str, typer.Argument(help="An e-mail address or an http(s) URL.")],
    secret: Annotated[str | None, typer.Option(help="Webhook signing secret.")] = None,
    citizenship: Annotated[list[str] | None, typer.Option(help="Repeat; none = all.")] = None,
    region: Annotated[list[str] | None, typer.Option(help="Repeat; none = all.")] = None,
    component: Annotated[list[str] | None, typer.Option(help="Repeat; none = all.")] = None,
    min_severity: Annotated[str, typer.Option(help="watch, warning or critical.")] = "watch",
) -> None:
    """Subscribe an e-mail address or a webhook to alerts."""
    from forecasting.names import resolve
    from forecasting.notify import create_subscription

    spec = {
        "channel": channel,
        "target": target,
        "secret": secret,
        "citizenships": [resolve(c).code for c in citizenship or []],
        "regions": region or [],
        "components": component or [],
        "min_severity": min_severity,
    }
    with open_store().engine.begin() as conn:
        emit(create_subscription(conn, spec).model_dump(mode="json"))


@app.command()
def unsubscribe(subscription_id: Annotated[int, typer.Argument(help="The id to delete.")]) -> None:
    """Delete a subscription; its pending notifications are cancelled."""
    from forecasting.notify import delete_subscription

    with open_store().engine.begin() as conn:
        delete_subscription(conn, subscription_id)
    typer.echo(f"subscription {subscription_id} deleted")


@app.command()
def subscriptions(as_json: JsonOption = False) -> None:
    """List the subscriptions (secrets are never shown)."""
    from forecasting.notify import list_subscriptions

    with open_store().engine.connect() as conn:
        found = [s.model_dump(mode="json") for s in list_subscriptions(conn)]
    if as_json:
        emit(found)
    elif found:
        table(found, ["id", "channel", "target", "citizenships", "min_severity"])


@app.command()
def deliver(as_json: JsonOption = False) -> None:
    """Send every pending notification now, without waiting out the backoff."""
    from forecasting.notify import deliver_pending

    report = deliver_pending(open_store().engine, force=True)
    summary = {"delivered": report.delivered, "retrying": report.retrying, "failed": report.failed}
    if as_json:
        emit(summary)
    else:
        typer.echo(", ".join(f"{v} {k}" for k, v in summary.items()))


def _prefect_env() -> None:
    """Prefect defaults for the CLI; set before prefect is imported, overridable.

    Library log lines go to each run's Prefect log; with no PREFECT_API_URL,
    Prefect starts a temporary local server, which on two cores needs more
    than its default 20 s; and no telemetry leaves the machine.
    """
    import os

    os.environ.setdefault("PREFECT_LOGGING_EXTRA_LOGGERS", "forecasting")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


@app.command()
def pipeline(
    sources: SourcesArgument = None,
    release_date: Annotated[
        str | None,
        typer.Option(help="YYYY-MM-DD: fill URL patterns as on this day (default: today)."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Retrain and detect even when nothing changed.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Run the monthly pipeline once now: ingest, retrain, refresh forecasts, detect and alert."""
    import datetime as dt

    from forecasting.errors import ConfigError

    _prefect_env()
    try:
        day = dt.date.fromisoformat(release_date) if release_date else None
    except ValueError:
        raise ConfigError(f"--release-date: {release_date!r} is not YYYY-MM-DD") from None
    from flows.pipeline import monthly_pipeline

    result = monthly_pipeline(sources=sources or None, release_date=day, force=force)
    if as_json:
        emit(result)
        return
    for s in result["ingest"]:
        note = (
            "already ingested"
            if s["already_ingested"]
            else f"{s['new']} new, {s['revised']} revised"
        )
        typer.echo(f"ingest  {s['file']}: {s['first_month']}..{s['last_month']}, {note}")
    if result["retrain"] is None:
        typer.echo("nothing new or revised: models and alerts left as they were (--force to rerun)")
        return
    failed = result["retrain"]["failed"]
    trained = result["retrain"]["trained"]
    typer.echo(f"retrain {trained} series, {len(failed)} failed {failed or ''}")
    alerts = result["alerts"]
    typer.echo(
        f"alerts  {alerts['opened']} new, {alerts['escalated']} escalated, "
        f"{alerts['resolved']} resolved; notifications {alerts['delivery']}"
    )


@app.command()
def deploy(
    sources: SourcesArgument = None,
    cron: Annotated[
        str | None,
        typer.Option(
            help="Cron schedule (default '0 6 20 * *': 06:00 on the 20th).",
            envvar="BORDERCAST_PIPELINE_CRON",
        ),
    ] = None,
    timezone: Annotated[
        str,
        typer.Option(help="IANA time zone of the schedule.", envvar="BORDERCAST_PIPELINE_TIMEZONE"),
    ] = "UTC",
) -> None:
    """Serve the monthly pipeline as a scheduled Prefect deployment (blocks; Ctrl-C stops).

    Registers the deployment with the Prefect API at PREFECT_API_URL and runs
    its scheduled and hand-triggered runs in this process's machine.
    """
    _prefect_env()
    from flows import deployment

    built = deployment.build_deployment(
        cron or deployment.DEFAULT_CRON, sources or deployment.DEFAULT_SOURCES, timezone
    )
    deployment.serve_deployment(built)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    access_log: Annotated[
        bool, typer.Option(help="Log every request (costs tail latency under load).")
    ] = False,
) -> None:
    """Run the HTTP API and the page (uvicorn, ``service.app:create_app``); docs at /docs."""
    import uvicorn

    uvicorn.run(
        "service.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level="info",
        access_log=access_log,
    )


def main() -> None:
    """Run the CLI; a Bordercast error is one line on stderr and a non-zero exit.

    Usage errors and ``typer.Exit`` are typer's own (standalone mode); only
    the library's errors are turned into exit codes here: 2 for bad input,
    1 for everything else.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except BordercastError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2 if isinstance(exc, ValueError | LookupError) else 1)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'input'}: {e['msg']}" for e in exc.errors()
        )
        typer.echo(f"error: {problems}", err=True)
        sys.exit(2)
