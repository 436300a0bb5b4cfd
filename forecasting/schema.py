"""The database tables, in one ``MetaData`` that Alembic's migrations follow.

Portable SQLAlchemy Core types only, so one schema serves SQLite (the embedded
default) and PostgreSQL. Changing a table means adding a migration under
``forecasting/migrations/versions``; ``bordercast`` upgrades a database in
place when it opens it.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

#: One row per ingested file. ``last_month`` is the release's vintage: where two
#: batches cover a key, the one with the later vintage stands.
batches = Table(
    "batches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("sha256", String(64), nullable=False, unique=True),
    Column("source", String(32), nullable=False),
    Column("location", Text, nullable=False),
    Column("rows", Integer, nullable=False),
    Column("first_month", Date, nullable=False),
    Column("last_month", Date, nullable=False),
    Column("ingested_at", DateTime(timezone=True), nullable=False),
    Column("values_new", Integer, nullable=False),
    Column("values_revised", Integer, nullable=False),
    Column("values_unchanged", Integer, nullable=False),
    Column("values_superseded", Integer, nullable=False),
)

#: The current value of every key. ``derived`` marks a sum the reader took over
#: a file's parts, as opposed to a count the source reported.
observations = Table(
    "observations",
    metadata,
    Column("citizenship", String(16), primary_key=True),
    Column("region", String(16), primary_key=True),
    Column("component", String(8), primary_key=True),
    Column("month", Date, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("batch_id", Integer, ForeignKey("batches.id"), nullable=False),
    Column("derived", Boolean, nullable=False),
)

#: Every value a release replaced (or, for an older release ingested late,
#: every value it would have replaced): nothing a source said is lost.
revisions = Table(
    "revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("citizenship", String(16), nullable=False),
    Column("region", String(16), nullable=False),
    Column("component", String(8), nullable=False),
    Column("month", Date, nullable=False),
    Column("old_count", Integer, nullable=False),
    Column("new_count", Integer, nullable=False),
    Column("old_batch_id", Integer, ForeignKey("batches.id"), nullable=False),
    Column("new_batch_id", Integer, ForeignKey("batches.id"), nullable=False),
    Column("kind", String(16), nullable=False),
)

#: Demographic and title-of-authority detail, per batch, where a source has it.
details = Table(
    "details",
    metadata,
    Column("batch_id", Integer, ForeignKey("batches.id"), primary_key=True),
    Column("citizenship", String(16), primary_key=True),
    Column("region", String(16), primary_key=True),
    Column("component", String(8), primary_key=True),
    Column("month", Date, primary_key=True),
    Column("demographic", String(32), primary_key=True),
    Column("title", String(16), primary_key=True),
    Column("count", Integer, nullable=False),
)

#: Every trained model: what it was trained on, how it scored, and the sha256
#: of its artifact file, checked before the file is ever unpickled.
model_versions = Table(
    "model_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("unique_id", String(48), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("kind", String(48), nullable=False),
    Column("data_cutoff", Date, nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("params", Text, nullable=False),
    Column("metrics", Text, nullable=False),
    Column("library_versions", Text, nullable=False),
    Column("artifact_path", Text, nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("current", Boolean, nullable=False),
)

#: Training plans as of past months (:mod:`forecasting.vintages`): what an
#: as-of forecast needs to be the served model's own. Found by month,
#: configuration, data hash and library versions; the artifact is checked like
#: a model's.
vintages = Table(
    "vintages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("month", Date, nullable=False, index=True),
    Column("config", String(32), nullable=False),
    Column("data_hash", String(64), nullable=False),
    Column("library_versions", Text, nullable=False),
    Column("artifact_path", Text, nullable=False),
    Column("artifact_sha256", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

#: The forecast each model version made when it was trained, for every level
#: served; the API reads these instead of predicting per request.
forecasts = Table(
    "forecasts",
    metadata,
    Column("model_id", Integer, ForeignKey("model_versions.id"), primary_key=True),
    Column("month", Date, primary_key=True),
    Column("level", Integer, primary_key=True),
    Column("mean", Float, nullable=False),
    Column("lower", Float, nullable=False),
    Column("upper", Float, nullable=False),
)

# -- transit indicators (issue 11) ----------------------------------------------

#: The current value of every transit indicator key: ``indicator`` is
#: ``panama-darien``, ``mexico-irregular`` or ``entries-<GEO>``, ``geo`` the
#: country where it is counted (alpha-3). ``period`` is ``month``, or ``year``
#: for an annual total (``month`` is then the January of that year) that must
#: never be read as one month's count. A transit file is a batch like any other.
indicator_values = Table(
    "indicator_values",
    metadata,
    Column("citizenship", String(16), primary_key=True),
    Column("indicator", String(32), primary_key=True),
    Column("period", String(8), primary_key=True),
    Column("month", Date, primary_key=True),
    Column("geo", String(3), nullable=False),
    Column("count", Integer, nullable=False),
    Column("batch_id", Integer, ForeignKey("batches.id"), nullable=False),
)

#: Every indicator value a newer transit file replaced, or an older one
#: ingested late would have replaced; the pattern of ``revisions``.
indicator_revisions = Table(
    "indicator_revisions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("citizenship", String(16), nullable=False),
    Column("indicator", String(32), nullable=False),
    Column("period", String(8), nullable=False),
    Column("month", Date, nullable=False),
    Column("old_count", Integer, nullable=False),
    Column("new_count", Integer, nullable=False),
    Column("old_batch_id", Integer, ForeignKey("batches.id"), nullable=False),
    Column("new_batch_id", Integer, ForeignKey("batches.id"), nullable=False),
    Column("kind", String(16), nullable=False),
)
# -- end transit indicators -----------------------------------------------------

#: One row per series and episode: the alert a desk officer sees open, escalate
#: and resolve. ``id`` is stable across replays (series, kind, month opened).
#: ``reason`` names the transit indicator and its change when one opened the
#: episode as a watch; NULL when the U.S. counts opened it.
alerts = Table(
    "alerts",
    metadata,
    Column("id", String(128), primary_key=True),
    Column("unique_id", String(48), nullable=False, index=True),
    Column("citizenship", String(16), nullable=False),
    Column("region", String(16), nullable=False),
    Column("component", String(8), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("opened", Date, nullable=False),
    Column("month", Date, nullable=False),
    Column("severity", String(16), nullable=False),
    Column("status", String(16), nullable=False),
    Column("observed", Float, nullable=False),
    Column("expected", Float, nullable=False),
    Column("lower", Float, nullable=True),
    Column("upper", Float, nullable=True),
    Column("resolved", Date, nullable=True),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=True),
)
