"""The store: canonical counts, batches, revisions and detail in SQLite or PostgreSQL.

Ingest is one transaction: a file is validated whole before the store is
touched, and a crash or kill half-way leaves the database as it was (SQLite's
journal and PostgreSQL's transactions undo the partial write). A file already
ingested (same sha256) changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from alembic import command
from alembic.config import Config
from sqlalchemy import (
    Connection,
    Engine,
    and_,
    bindparam,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)

from forecasting.errors import UnknownSeries
from forecasting.names import display_name
from forecasting.readers import Reading
from forecasting.readers.base import KEY
from forecasting.schema import (
    alerts,
    batches,
    details,
    model_versions,
    observations,
    revisions,
    vintages,
)

MIGRATIONS = Path(__file__).parent / "migrations"


@dataclass
class IngestSummary:
    """What one file did to the store; printed by the CLI, published by the flows."""

    file: str
    source: str
    sha256: str
    rows: int
    first_month: str
    last_month: str
    series: int
    new: int = 0
    revised: int = 0
    unchanged: int = 0
    superseded: int = 0
    already_ingested: bool = False
    batch_id: int | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class SeriesInfo:
    """One series as ``bordercast series`` lists it."""

    code: str
    name: str
    region: str
    component: str
    first_month: str
    last_month: str
    months: int
    last_count: int
    total: int
    reporting: bool = field(default=True)

    @property
    def unique_id(self) -> str:
        return series_id(self.code, self.region, self.component)


def series_id(citizenship: str, region: str, component: str) -> str:
    """The ``unique_id`` of a series in long frames: ``CN:southwest:usbp``."""
    return f"{citizenship}:{region}:{component}"


def make_engine(url: str) -> Engine:
    """An engine with SQLite set up for one writer beside many readers."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


class Store:
    """All reads and writes of observations go through here."""

    def __init__(self, url: str, migrate: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if migrate:
            self.migrate()

    def migrate(self) -> None:
        """Bring the schema to the newest migration, in place."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    # -- ingest -----------------------------------------------------------------

    def ingest(self, reading: Reading, sha256: str, location: str) -> IngestSummary:
        """Apply one validated file atomically; the newer release's value stands."""
        counts = reading.counts
        summary = IngestSummary(
            file=location,
            source=reading.source,
            sha256=sha256,
            rows=reading.rows,
            first_month=reading.first_month.strftime("%Y-%m"),
            last_month=reading.last_month.strftime("%Y-%m"),
            series=int(counts.groupby(KEY[1:]).ngroups),
        )

        def apply(conn: Connection, batch_id: int) -> None:
            _apply(conn, batch_id, reading, summary)
            if not reading.details.empty:
                conn.execute(insert(details), records(reading.details, batch_id=batch_id))

        return self.apply_batch(reading, sha256, location, summary, len(counts), apply)

    def apply_batch(
        self,
        reading: Any,
        sha256: str,
        location: str,
        summary: IngestSummary,
        values: int,
        apply: Callable[[Connection, int], None],
    ) -> IngestSummary:
        """Record a file as a batch and apply its values, all in one transaction.

        A file already ingested (same sha256) changes nothing: ``values`` are
        counted unchanged. ``apply(conn, batch_id)`` merges the values and
        fills ``summary``'s counts; the batch row gets them at the end. Every
        kind of source (encounters, transit indicators) goes through here.
        """
        with self.engine.begin() as conn:
            known = conn.execute(select(batches.c.id).where(batches.c.sha256 == sha256)).scalar()
            if known is not None:
                summary.already_ingested = True
                summary.unchanged = values
                summary.batch_id = known
                return summary
            key = conn.execute(
                insert(batches).values(
                    sha256=sha256,
                    source=reading.source,
                    location=location,
                    rows=reading.rows,
                    first_month=reading.first_month.date(),
                    last_month=reading.last_month.date(),
                    ingested_at=dt.datetime.now(dt.UTC),
                    values_new=0,
                    values_revised=0,
                    values_unchanged=0,
                    values_superseded=0,
                )
            ).inserted_primary_key
            assert key is not None  # a single-row insert into a table with an autoincrement id
            batch_id = key[0]
            summary.batch_id = batch_id
            apply(conn, batch_id)
            conn.execute(
                update(batches)
                .where(batches.c.id == batch_id)
                .values(
                    values_new=summary.new,
                    values_revised=summary.revised,
                    values_unchanged=summary.unchanged,
                    values_superseded=summary.superseded,
                )
            )
        return summary

    # -- reads ------------------------------------------------------------------

    def generation(self) -> tuple[object, ...]:
        """A token that changes whenever what readers see may have changed.

        Every write that readers see adds a batch, a model version, a kept plan
        or an alert transition, so the newest of each and their counts are
        enough: the service polls this instead of re-reading the store on a
        timer, and as-of answers key the month's data on it. The counts matter
        on PostgreSQL, where ids follow insertion, not commit: an ingest that
        took id 10 and commits after the one that took id 11 leaves the
        maximum at 11, but not the count.
        """
        query = select(
            *(
                select(agg).select_from(table).scalar_subquery()
                for table in (batches, model_versions, vintages)
                for agg in (func.max(table.c.id), func.count())
            ),
            select(func.max(alerts.c.updated_at)).scalar_subquery(),
            select(func.count()).select_from(alerts).scalar_subquery(),
        )
        with self.engine.connect() as conn:
            return tuple(conn.execute(query).one())

    def batch(self, sha256: str) -> dict[str, Any] | None:
        """The batch that ingested a file with this checksum, or ``None``."""
        query = select(batches).where(batches.c.sha256 == sha256).order_by(batches.c.id).limit(1)
        with self.engine.connect() as conn:
            row = conn.execute(query).mappings().first()
        return dict(row) if row is not None else None

    def batches(self) -> pd.DataFrame:
        """Every ingested file, oldest first."""
        with self.engine.connect() as conn:
            return pd.read_sql(select(batches).order_by(batches.c.id), conn)

    def series(self) -> list[SeriesInfo]:
        """Every series with at least one encounter, and whether its source still reports it.

        A series "stopped reporting" when its last month is older than the newest
        month of any series of the same region and component: CBP folded it
        into ``OTHER``, and a forecast must not read that as zero.
        """
        o = observations.c
        stats = (
            select(
                o.citizenship,
                o.region,
                o.component,
                func.min(o.month).label("first_month"),
                func.max(o.month).label("last_month"),
                func.count().label("months"),
                func.sum(o.count).label("total"),
            )
            .group_by(o.citizenship, o.region, o.component)
            .subquery()
        )
        query = (
            select(stats, o.count.label("last_count"))
            .join(
                observations,
                and_(
                    o.citizenship == stats.c.citizenship,
                    o.region == stats.c.region,
                    o.component == stats.c.component,
                    o.month == stats.c.last_month,
                ),
            )
            .where(stats.c.total > 0)
        )
        with self.engine.connect() as conn:
            frame = pd.read_sql(query, conn)
        if frame.empty:
            return []
        frame["last_month"] = pd.to_datetime(frame["last_month"])
        frame["first_month"] = pd.to_datetime(frame["first_month"])
        newest = frame.groupby(["region", "component"])["last_month"].transform("max")
        return [
            SeriesInfo(
                code=r.citizenship,
                name=display_name(r.citizenship),
                region=r.region,
                component=r.component,
                first_month=r.first_month.strftime("%Y-%m"),
                last_month=r.last_month.strftime("%Y-%m"),
                months=int(r.months),
                last_count=int(r.last_count),
                total=int(r.total),
                reporting=bool(r.last_month == n),
            )
            for r, n in zip(frame.itertuples(index=False), newest, strict=True)
        ]

    def series_frame(
        self,
        ids: list[str] | None = None,
        region: str | None = None,
        component: str | None = None,
        as_of: pd.Timestamp | str | None = None,
    ) -> pd.DataFrame:
        """Series in the long shape ``unique_id, ds, y`` (statsforecast's), sorted.

        ``as_of`` keeps months up to and including that month: what was known
        then. Months the store does not hold stay absent (never a zero).
        """
        o = observations.c
        query = select(o.citizenship, o.region, o.component, o.month, o.count)
        if region:
            query = query.where(o.region == region)
        if component:
            query = query.where(o.component == component)
        if as_of is not None:
            query = query.where(o.month <= pd.Timestamp(as_of).date())
        if ids:
            parts = [i.split(":") for i in ids]
            query = query.where(o.citizenship.in_({p[0] for p in parts}))
        with self.engine.connect() as conn:
            frame = pd.read_sql(query, conn)
        frame["unique_id"] = frame["citizenship"] + ":" + frame["region"] + ":" + frame["component"]
        if ids:
            frame = frame[frame["unique_id"].isin(ids)]
        frame = frame.rename(columns={"month": "ds", "count": "y"})
        frame["ds"] = pd.to_datetime(frame["ds"])
        frame["y"] = frame["y"].astype("float64")
        return (
            frame[["unique_id", "ds", "y"]].sort_values(["unique_id", "ds"]).reset_index(drop=True)
        )

    def history(
        self, citizenship: str, region: str, component: str, as_of: str | None = None
    ) -> pd.DataFrame:
        """One series as ``ds, y``; :class:`UnknownSeries` if the store has none of it."""
        uid = series_id(citizenship, region, component)
        frame = self.series_frame([uid], as_of=as_of)
        if frame.empty:
            raise UnknownSeries(uid)
        return frame[["ds", "y"]].reset_index(drop=True)


def records(frame: pd.DataFrame, **extra: object) -> list[dict[str, Any]]:
    """Rows as dicts with dates for the driver (SQLite and psycopg both take ``date``)."""
    out = frame.assign(month=frame["month"].dt.date, **extra)
    return out.to_dict("records")


def classify(
    merged: pd.DataFrame, vintage: pd.Timestamp, summary: IngestSummary
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split incoming values against the stored ones, and count them in ``summary``.

    ``merged`` is the incoming frame left-joined with the stored ``old_count``
    and ``old_vintage``. Returns the new values, the revised ones (the
    incoming release is as new or newer), the superseded ones (it is older:
    the stored value stands) and the confirmed ones (same value, newer
    release, so the batch that vouches for it moves forward).
    """
    is_new = merged["old_count"].isna()
    newer = merged["old_vintage"] <= vintage
    same = merged["old_count"] == merged["count"]
    fresh = merged[is_new]
    revised = merged[~is_new & ~same & newer]
    superseded = merged[~is_new & ~same & ~newer]
    confirmed = merged[~is_new & same & newer]
    summary.new = len(fresh)
    summary.revised = len(revised)
    summary.superseded = len(superseded)
    summary.unchanged = int((~is_new & same).sum())
    return fresh, revised, superseded, confirmed


def _apply(conn, batch_id: int, reading: Reading, summary: IngestSummary) -> None:  # type: ignore[no-untyped-def]
    """Merge a file's counts into ``observations``, keeping every replaced value."""
    counts = reading.counts
    vintage = reading.last_month
    o = observations.c
    existing = pd.read_sql(
        select(
            o.citizenship,
            o.region,
            o.component,
            o.month,
            o.count.label("old_count"),
            o.batch_id.label("old_batch_id"),
            batches.c.last_month.label("old_vintage"),
        )
        .join(batches, batches.c.id == o.batch_id)
        .where(o.month.between(reading.first_month.date(), reading.last_month.date())),
        conn,
    )
    existing["month"] = pd.to_datetime(existing["month"])
    existing["old_vintage"] = pd.to_datetime(existing["old_vintage"])
    merged = counts.merge(existing, on=KEY, how="left")
    fresh, revised, superseded, confirmed = classify(merged, vintage, summary)
    if len(fresh):
        conn.execute(
            insert(observations),
            records(fresh[[*KEY, "count", "derived"]], batch_id=batch_id),
        )
    changed = pd.concat([revised, confirmed])
    if len(changed):
        conn.execute(
            update(observations)
            .where(
                and_(
                    o.citizenship == bindparam("k_citizenship"),
                    o.region == bindparam("k_region"),
                    o.component == bindparam("k_component"),
                    o.month == bindparam("k_month"),
                )
            )
            .values(count=bindparam("k_count"), batch_id=batch_id, derived=bindparam("k_derived")),
            [
                {f"k_{k}": v for k, v in row.items()}
                for row in records(changed[[*KEY, "count", "derived"]])
            ],
        )
    _log_revisions(conn, batch_id, revised, superseded)


def revision_rows(
    batch_id: int, revised: pd.DataFrame, superseded: pd.DataFrame, key: list[str]
) -> list[dict[str, Any]]:
    """Rows keeping both values of every key two files disagree on.

    ``revised``: the incoming (newer) file replaced the stored value.
    ``superseded``: the incoming file is older, so the stored value stands and
    the incoming one is what is kept. Both frames hold ``key``, ``count``,
    ``old_count`` and ``old_batch_id``.
    """
    rows: list[dict[str, Any]] = []
    for frame, kind in ((revised, "revised"), (superseded, "superseded")):
        if frame.empty:
            continue
        incoming_is_older = kind == "superseded"
        part = pd.DataFrame(
            {
                **{k: frame[k] for k in key},
                "old_count": frame["count"] if incoming_is_older else frame["old_count"],
                "new_count": frame["old_count"] if incoming_is_older else frame["count"],
                "old_batch_id": batch_id if incoming_is_older else frame["old_batch_id"],
                "new_batch_id": frame["old_batch_id"] if incoming_is_older else batch_id,
                "kind": kind,
            }
        )
        types = {"old_count": int, "new_count": int, "old_batch_id": int, "new_batch_id": int}
        rows.extend(records(part.astype(types)))
    return rows


def _log_revisions(
    conn: Connection, batch_id: int, revised: pd.DataFrame, superseded: pd.DataFrame
) -> None:
    """Keep the value each release replaced, and what an older release would have said."""
    rows = revision_rows(batch_id, revised, superseded, KEY)
    if rows:
        conn.execute(insert(revisions), rows)
