"""Ingest a file or URL: fetch the bytes, validate them whole, apply them in one transaction.

The same function serves the CLI and the Prefect flow; the flow wraps
:func:`fetch` in a task with retries of its own, the CLI relies on the
retries here.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import httpx
from tenacity import (
    retry,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential,
)

from forecasting import indicators, readers
from forecasting.errors import IngestError
from forecasting.store import IngestSummary, Store

log = logging.getLogger(__name__)


def is_url(location: str) -> bool:
    return location.startswith(("http://", "https://"))


def _retryable(exc: BaseException) -> bool:
    """Connection errors, timeouts and 5xx are worth another try; 4xx are not."""
    if isinstance(exc, httpx.HTTPStatusError):
        return exc.response.status_code >= 500
    return isinstance(exc, httpx.TransportError)


def fetch(location: str, retries: int = 3, timeout: float = 30.0) -> bytes:
    """The bytes of a local path or an http(s) URL.

    Downloads are retried with exponential backoff on connection errors,
    timeouts and 5xx answers.

    Raises
    ------
    IngestError
        When the file does not exist, or the URL cannot be fetched (offline,
        refused, 4xx, or 5xx after every retry).
    """
    if not is_url(location):
        path = Path(location)
        if not path.is_file():
            raise IngestError(location, "no such file")
        return path.read_bytes()

    @retry(
        retry=retry_if_exception(_retryable),
        stop=stop_after_attempt(retries + 1),
        wait=wait_exponential(multiplier=0.5, max=10),
        reraise=True,
    )
    def download() -> bytes:
        response = httpx.get(location, timeout=timeout, follow_redirects=True)
        response.raise_for_status()
        return response.content

    try:
        return download()
    except httpx.HTTPStatusError as exc:
        raise IngestError(location, f"download failed: HTTP {exc.response.status_code}") from None
    except httpx.TransportError as exc:
        raise IngestError(
            location,
            f"download failed after {retries + 1} attempts ({type(exc).__name__}: {exc}); "
            "is this machine offline?",
        ) from None


def sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# -- transit indicators (issue 11) ----------------------------------------------


def apply(
    store: Store, reading: readers.Reading | readers.TransitReading, checksum: str, location: str
) -> IngestSummary:
    """Write a validated file where its kind belongs, in one transaction.

    Encounter files go to the observations; transit files to the indicator
    store, beside the encounters and never in them. Callers that read a file
    themselves (the Prefect flow) should apply it through here.
    """
    if isinstance(reading, readers.TransitReading):
        return indicators.ingest(store, reading, checksum, location)
    return store.ingest(reading, checksum, location)


# -- end transit indicators -----------------------------------------------------


def ingest_bytes(store: Store, location: str, raw: bytes) -> IngestSummary:
    """Validate and apply one file's bytes; nothing is written unless all of it is good."""
    name = location if is_url(location) else Path(location).name
    reading = readers.read(name, raw)
    summary = apply(store, reading, sha256(raw), location)
    log.info(
        "%s: %s rows, %s..%s, %s new, %s revised, %s unchanged",
        location,
        summary.rows,
        summary.first_month,
        summary.last_month,
        summary.new,
        summary.revised,
        summary.unchanged,
    )
    return summary


def ingest(store: Store, location: str, retries: int = 3, timeout: float = 30.0) -> IngestSummary:
    """Fetch and ingest one path or URL."""
    return ingest_bytes(store, location, fetch(location, retries=retries, timeout=timeout))
