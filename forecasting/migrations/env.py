"""Alembic environment: runs on the connection ``forecasting.store.migrate`` hands it."""

from __future__ import annotations

from alembic import context

import forecasting.notify.outbox  # noqa: F401  (its tables join the metadata autogenerate compares)
from forecasting.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only the alembic command line lands here
    from sqlalchemy import create_engine

    from forecasting.settings import get_settings

    connection = create_engine(get_settings().database_url).connect()

context.configure(
    connection=connection, target_metadata=metadata, render_as_batch=True, compare_type=True
)
with context.begin_transaction():
    context.run_migrations()
