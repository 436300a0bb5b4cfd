"""Every call the flows make into ``forecasting``, in one place.

The flows import nothing else from the library, so wiring a new library
function (or renaming one) is an edit to this module only. Modules that are
still being written (``forecasting.training``, ``forecasting.alerts``,
``forecasting.notify.deliver_pending``) are imported lazily: the flows import
and the ingest path runs without them, and a step that needs a missing one
fails with :class:`LibraryMissing` naming it.

Everything a task returns or takes across a process or Dask boundary is plain
data or picklable (``Reading``, ``IngestSummary``, the training plan and
results); stores are opened inside each task from a database URL, never
passed between processes.
"""

from __future__ import annotations

import datetime as dt
import glob
import importlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from forecasting import ingest as _ingest
from forecasting import readers
from forecasting.errors import BordercastError, ConfigError, DeliveryError
from forecasting.readers import Reading
from forecasting.settings import Settings, get_settings
from forecasting.store import IngestSummary, Store

log = logging.getLogger(__name__)

__all__ = [
    "CBP_NATIONWIDE_STATE",
    "BordercastError",
    "ConfigError",
    "DeliveryError",
    "IngestSummary",
    "LibraryMissing",
    "Reading",
    "SeriesFailure",
    "Settings",
    "apply_release",
    "available",
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


class LibraryMissing(BordercastError, ImportError):
    """A step needs a library function that this checkout does not have yet."""

    def __init__(self, what: str) -> None:
        self.what = what
        super().__init__(f"needs {what}, which this version of forecasting does not provide")


def _function(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        raise LibraryMissing(f"{module}.{name}") from None


def available(module: str, name: str) -> bool:
    """Whether ``module.name`` exists: tests skip the steps that wait for it."""
    try:
        _function(module, name)
    except LibraryMissing:
        return False
    return True


# -- store ---------------------------------------------------------------------------


def open_store(url: str | None = None, migrate: bool = False) -> Store:
    """The store at ``url`` (default: the settings'); migrate once per run, not per task."""
    return Store(url or get_settings().database_url, migrate=migrate)


# -- ingest --------------------------------------------------------------------------

#: The CBP nationwide release by state, as published since late 2024 (e.g.
#: ``.../files/2024-10/nationwide-encounters-fy21-fy24-state.csv``); the
#: placeholders are filled by :func:`expand_sources`. CBP names a September
#: (fiscal year end) file without the month, and has moved its files before:
#: the deployment takes any list of patterns and paths.
CBP_NATIONWIDE_STATE = (
    "https://www.cbp.gov/sites/default/files/{published}/"
    "nationwide-encounters-fy{fy_first}-fy{fy}-{month}-state.csv"
)


def expand_sources(sources: list[str], release_date: dt.date) -> list[str]:
    """Turn the deployment's source patterns into the paths and URLs to fetch this month.

    A URL may hold placeholders for the release published in the month of
    ``release_date``, which covers the month before it: ``{published}``
    (``2025-12``), ``{month}`` (``nov``), ``{fy}`` (fiscal year of the covered
    month, two digits: ``26``), ``{fy_first}`` (``fy`` - 3: CBP files repeat
    four fiscal years), ``{year}`` and ``{mm}`` (the covered month). A local
    path may be a glob (``/srv/cbp/*.csv``), expanded in sorted order; a glob
    that matches nothing adds nothing. Anything else passes through unchanged.

    TODO(lead): belongs in ``forecasting`` (e.g. ``forecasting/sources.py``).
    """
    covered = (release_date.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    fiscal_year = covered.year + (1 if covered.month >= 10 else 0)
    fields = {
        "published": release_date.strftime("%Y-%m"),
        "month": covered.strftime("%b").lower(),
        "fy": f"{fiscal_year % 100:02d}",
        "fy_first": f"{(fiscal_year - 3) % 100:02d}",
        "year": f"{covered.year}",
        "mm": f"{covered.month:02d}",
    }
    out: list[str] = []
    for source in sources:
        if _ingest.is_url(source):
            out.append(source.format(**fields))
        elif glob.has_magic(source):
            out.extend(sorted(glob.glob(source)))
        else:
            out.append(source)
    return out


def fetch(location: str, timeout: float) -> bytes:
    """One attempt at a path or URL; the flow's task retries (visible in the UI)."""
    return _ingest.fetch(location, retries=0, timeout=timeout)


def sha256(raw: bytes) -> str:
    return _ingest.sha256(raw)


def known_release(store: Store, location: str, checksum: str) -> IngestSummary | None:
    """The summary of a release already ingested with this checksum, or ``None``.

    Lets the flow skip parsing a release it has seen. TODO(lead): a
    ``Store.batch(sha256)`` lookup would replace the scan of ``batches()``.
    """
    frame = store.batches()
    frame = frame[frame["sha256"] == checksum]
    if frame.empty:
        return None
    row = frame.iloc[0]
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


def read_release(location: str, raw: bytes) -> Reading:
    """Validate a whole release; :class:`IngestError` names file, line and column."""
    return readers.read(_name(location), raw)


def apply_release(store: Store, location: str, checksum: str, reading: Reading) -> IngestSummary:
    """Apply one validated release in one transaction (a known checksum changes nothing)."""
    return store.ingest(reading, checksum, location)


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


def plan(store: Store, series_ids: list[str] | None = None) -> Any:
    """The training plan: data cut-off and ``plan.series_ids``; picklable."""
    return _function("forecasting.training", "plan")(store, series_ids)


def train_one(training_plan: Any, unique_id: str) -> Any:
    """Train and backtest one series; a raised error becomes a :class:`SeriesFailure`."""
    train = _function("forecasting.training", "train_one")
    try:
        return train(training_plan, unique_id)
    except LibraryMissing:
        raise
    except Exception as exc:  # one series must not fail its batch
        log.warning("%s: training failed: %s", unique_id, exc, exc_info=True)
        return SeriesFailure(unique_id, f"{type(exc).__name__}: {exc}")


def commit(store: Store, training_plan: Any, results: list[Any]) -> dict[str, Any]:
    """Save models and forecasts atomically; stand-in failures are not the library's."""
    genuine = [r for r in results if not isinstance(r, SeriesFailure)]
    return dict(_function("forecasting.training", "commit")(store, training_plan, genuine))


# -- surges and alerts ---------------------------------------------------------------


def run_detection(store: Store, as_of: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Open, escalate and resolve alerts for the newest month (or ``as_of``); queue them."""
    found = _function("forecasting.alerts", "run_detection")(store, as_of=as_of, notify=True)
    return {k: list(found.get(k, [])) for k in ("opened", "escalated", "resolved")}


def deliver_pending(store: Store, force: bool = False) -> dict[str, int]:
    """Send what the outbox holds (email, webhooks); counts of sent, failed, pending."""
    report = _function("forecasting.notify", "deliver_pending")(store.engine, force=force)
    return {"sent": report.delivered, "failed": report.failed, "pending": report.retrying}
