"""A small in-process cache of rendered answers, so hot routes do no work per request.

Forecasts, history, stats and charts are read from the store, which changes
only when data is ingested or a model is published: monthly. Keeping the
rendered bytes for ``ttl`` seconds is what lets ``GET /v1/forecasts/{c}``
answer at nearly the speed of ``/health`` (``bench/api.py``). Entries hold
complete answers only: a value enters the cache after it was read whole, so a
retrain in progress can never put a half-written forecast here.

While a retrain runs in this process, expired entries keep being served
(``stale_ok``): the service goes on answering from the current version until
the new one is published, then :meth:`TTLCache.clear` drops everything.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class TTLCache(Generic[T]):
    """A bounded LRU map whose entries expire after ``ttl`` seconds.

    Parameters
    ----------
    ttl
        Seconds an entry is fresh. Bounds how stale an answer can be after
        another process (the monthly flow) publishes a new model.
    maxsize
        Entries kept; the least recently used go first. As-of and chart
        answers are keyed by their parameters, so this bounds memory.
    """

    def __init__(self, ttl: float = 30.0, maxsize: int = 1024) -> None:
        if ttl < 0 or maxsize < 1:
            raise ValueError(f"ttl must be >= 0 and maxsize >= 1, got {ttl}, {maxsize}")
        self.ttl = ttl
        self.maxsize = maxsize
        self.stale_ok = False
        self._data: OrderedDict[Hashable, tuple[float, T]] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable) -> T | None:
        """The fresh value under ``key``, or ``None``; cheap enough for the event loop."""
        with self._lock:
            hit = self._data.get(key)
            if hit is None:
                return None
            expires, value = hit
            if expires < time.monotonic() and not self.stale_ok:
                del self._data[key]
                return None
            self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: T) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + self.ttl, value)
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def get_or_compute(self, key: Hashable, compute: Callable[[], T]) -> T:
        """The cached value, or ``compute()`` run once even when many requests miss together.

        Blocking: call it from a worker thread. An exception from ``compute``
        is not cached, so the next request tries again.
        """
        value = self.get(key)
        if value is not None:
            return value
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            value = self.get(key)
            if value is None:
                value = compute()
                self.put(key, value)
        with self._lock:
            self._key_locks.pop(key, None)
        return value

    def clear(self) -> None:
        """Forget everything: called when a new model version or new data is published."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
