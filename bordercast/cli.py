"""``bordercast``: the command line.

Every command is a thin call into ``forecasting``; errors become exit codes in
:func:`main` only. Commands that print data take ``--json``.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Annotated

import typer

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


def main() -> None:
    """Run the CLI; a Bordercast error is one line on stderr and a non-zero exit."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app(standalone_mode=False)
    except BordercastError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2 if isinstance(exc, ValueError | LookupError) else 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except Exception as exc:  # click usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise
