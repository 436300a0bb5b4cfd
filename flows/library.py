"""Every call the flows make into ``forecasting``, in one place.

The flows import nothing else from the library, so wiring a new library
function (or renaming one) is an edit to this module only. What is here beyond
a call is the flows' own concern: one attempt per fetch (Prefect owns the
retries, visible in the UI), the retry rule, and turning one series' failure
into data so that its batch goes on.

Everything a task returns or takes across a process or Dask boundary is plain
data or picklable (``Reading``, ``IngestSummary``, the training plan and
results); stores are opened inside each task from a database URL, never
passed between processes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from forecasting import alerts, readers, training
from forecasting import ingest as _ingest
from forecasting.backfill import backfill
from forecasting.errors import BordercastError, ConfigError, DeliveryError
from forecasting.notify import deliver_pending as _deliver_pending
from forecasting.readers import Reading, TransitReading
from forecasting.settings import Settings, get_settings
from forecasting.sources import CBP_NATIONWIDE_STATE, expand_sources
from forecasting.store import IngestSummary, Store
from forecasting.training import TrainingPlan

log = logging.getLogger(__name__)

__all__ = [
    "CBP_NATIONWIDE_STATE",
    "BordercastError",
    "ConfigError",
    "DeliveryError",
    "IngestSummary",
    "Reading",
    "SeriesFailure",
    "Settings",
    "TrainingPlan",
    "TransitReading",
    "apply_release",
    "commit",
    "deliver_pending",
    "expand_sources",
    "fetch",
    "get_settings",
    "known_release",
    "open_store",
    "plan",
    "read_release",
    "retryable",
    "run_detection",
    "sha256",
    "train_one",
]


# -- store ---------------------------------------------------------------------------


def open_store(url: str | None = None, migrate: bool = False) -> Store:
    """The store at ``url`` (default: the settings'); migrate once per run, not per task."""
    return Store(url or get_settings().database_url, migrate=migrate)


# -- ingest --------------------------------------------------------------------------


def fetch(location: str, timeout: float) -> bytes:
    """One attempt at a path or URL; the flow's task retries (visible in the UI)."""
    return _ingest.fetch(location, retries=0, timeout=timeout)


def sha256(raw: bytes) -> str:
    return _ingest.sha256(raw)


def known_release(store: Store, location: str, checksum: str) -> IngestSummary | None:
    """The summary of a release already ingested with this checksum, or ``None``.

    Lets the flow skip parsing a release it has seen.
    """
    row = store.batch(checksum)
    if row is None:
        return None
    return IngestSummary(
        file=location,
        source=str(row["source"]),
        sha256=checksum,
        rows=int(row["rows"]),
        first_month=str(row["first_month"])[:7],
        last_month=str(row["last_month"])[:7],
        series=0,
        already_ingested=True,
        batch_id=int(row["id"]),
    )


def _name(location: str) -> str:
    return location if _ingest.is_url(location) else Path(location).name


def read_release(location: str, raw: bytes) -> Reading | TransitReading:
    """Validate a whole release; :class:`IngestError` names file, line and column."""
    return readers.read(_name(location), raw)


def apply_release(
    store: Store, location: str, checksum: str, reading: Reading | TransitReading
) -> IngestSummary:
    """Apply one validated release in one transaction (a known checksum changes nothing)."""
    return _ingest.apply(store, reading, checksum, location)


def retryable(exc: BaseException) -> bool:
    """Whether another attempt could succeed: the one rule behind every task's retries.

    Connection errors, timeouts and 5xx are retried; a 4xx, a missing file,
    a file that fails validation, and any other input error are not. An
    error with a ``retryable`` attribute (``DeliveryError``) decides itself.
    """
    if isinstance(exc, httpx.HTTPError):
        return _ingest._retryable(exc)
    flag = getattr(exc, "retryable", None)
    if isinstance(flag, bool):
        return flag
    # ``fetch`` raises IngestError from the httpx error it caught: judge that one.
    if exc.__context__ is not None and isinstance(exc.__context__, httpx.HTTPError):
        return _ingest._retryable(exc.__context__)
    return not isinstance(exc, ValueError | LookupError | TypeError | BordercastError)


# -- training ------------------------------------------------------------------------


@dataclass
class SeriesFailure:
    """A series whose training raised (or whose batch was lost) instead of returning."""

    unique_id: str
    error: str
    ok: bool = False
    metrics: dict[str, Any] = field(default_factory=dict)


def plan(store: Store, series_ids: list[str] | None = None) -> TrainingPlan:
    """The training plan: data cut-off and ``plan.series_ids``; picklable."""
    return training.plan(store, series_ids)


def train_one(training_plan: Any, unique_id: str) -> Any:
    """Train and backtest one series; a raised error becomes a :class:`SeriesFailure`."""
    try:
        return training.train_one(training_plan, unique_id)
    except Exception as exc:  # one series must not fail its batch
        log.warning("%s: training failed: %s", unique_id, exc, exc_info=True)
        return SeriesFailure(unique_id, f"{type(exc).__name__}: {exc}")


def commit(store: Store, training_plan: Any, results: list[Any]) -> dict[str, Any]:
    """Save models and forecasts atomically; stand-in failures are not the library's."""
    genuine = [r for r in results if not isinstance(r, SeriesFailure)]
    return dict(training.commit(store, training_plan, genuine))


def keep_plan(store: Store, month: str) -> dict[str, Any]:
    """Keep one month's training plan (built unless kept): exact as-of forecasts of it."""
    return backfill(store, [pd.Timestamp(month)])[0]


# -- surges and alerts ---------------------------------------------------------------


def run_detection(store: Store, as_of: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Open, escalate and resolve alerts for the newest month (or ``as_of``); queue them."""
    found = alerts.run_detection(store, as_of=as_of, notify=True)
    return {k: list(found.get(k, [])) for k in ("opened", "escalated", "resolved")}


def deliver_pending(store: Store, force: bool = False) -> dict[str, int]:
    """Send what the outbox holds (email, webhooks); counts of sent, failed, pending."""
    report = _deliver_pending(store.engine, force=force)
    return {"sent": report.delivered, "failed": report.failed, "pending": report.retrying}
