"""Noticing, off the request path, that the store changed: new data, a model, an alert.

The monthly flow and ``bordercast`` commands write from other processes, so
the service cannot be told; it asks. Every ``refresh_seconds`` a background
task reads :meth:`forecasting.store.Store.generation` (three indexed maxima)
in a worker thread; when it differs from the last one seen, the catalog is
re-read and the answer caches emptied, in that order, so no request ever pays
for the re-read and no answer outlives the data it came from by more than one
poll.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi.concurrency import run_in_threadpool

from forecasting.store import Store
from service.cache import AnswerCache
from service.catalog import Catalog

log = logging.getLogger(__name__)


class Watcher:
    """Polls the store's generation and refreshes what the service derived from it."""

    def __init__(
        self, store: Store, catalog: Catalog, caches: list[AnswerCache[Any]], seconds: float
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.caches = caches
        self.seconds = seconds
        self.seen: tuple[object, ...] | None = None

    def check(self, force: bool = False) -> bool:
        """Refresh if the store changed since the last check (or ``force``); blocking."""
        now = self.store.generation()
        if now == self.seen and not force:
            return False
        self.catalog.reload()
        for cache in self.caches:
            cache.clear()
        self.seen = now
        return True

    async def run(self) -> None:
        """Check forever; a failed check (database restarting) is logged and retried."""
        while True:
            try:
                await run_in_threadpool(self.check)
            except Exception as exc:  # keep serving what we have; the next poll retries
                log.warning("could not check the store for changes: %s", exc)
            await asyncio.sleep(self.seconds)
