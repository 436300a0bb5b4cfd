"""A small in-process cache of rendered answers, so hot routes do no work per request.

Forecasts, history, stats and charts are read from the store, which changes
only when data is ingested, a model is published or an alert moves: monthly.
So entries do not expire on a timer (an expiry makes every request for the hot
key wait on one re-read, which is what set the p99 in ``bench/api.py``);
they stay until :class:`service.refresh.Watcher` sees the store's generation
change and calls :meth:`AnswerCache.clear`. Entries hold complete answers only:
a value enters the cache after it was read whole, so a retrain in progress can
never put a half-written forecast here, and a value computed before a
``clear`` is dropped rather than stored after it (the epoch check).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class AnswerCache(Generic[T]):
    """A bounded LRU map of answers, emptied as a whole when the store changes.

    Parameters
    ----------
    maxsize
        Entries kept; the least recently used go first. As-of and chart
        answers are keyed by their parameters, so this bounds memory.
    """

    def __init__(self, maxsize: int = 1024) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.epoch = 0
        self._data: OrderedDict[Hashable, T] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get(self, key: Hashable) -> T | None:
        """The value under ``key``, or ``None``; cheap enough for the event loop."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: Hashable, value: T, epoch: int | None = None) -> None:
        """Store ``value``, unless the cache was cleared since ``epoch`` (it may be stale)."""
        with self._lock:
            if epoch is not None and epoch != self.epoch:
                return
            self._data[key] = value
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
                epoch = self.epoch
                value = compute()
                self.put(key, value, epoch)
        with self._lock:
            self._key_locks.pop(key, None)
        return value

    def clear(self) -> None:
        """Forget everything: called when new data, a model or an alert is published."""
        with self._lock:
            self.epoch += 1
            self._data.clear()

    def __len__(self) -> int:
        return len(self._data)
