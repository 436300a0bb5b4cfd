"""Retrain jobs run in one background thread, one at a time.

The admin route answers 202 at once; the work happens in a single worker
thread so that a retrain never competes with another for the two cores, and
the event loop keeps answering. While a job runs the answer cache serves what
it holds even past its lifetime (the current, complete version); when the job
succeeds the cache is dropped so the next request reads the new version.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Job:
    """One retrain request and what became of it."""

    id: str
    series: list[str] | None
    status: str = "queued"
    submitted_at: dt.datetime = field(default_factory=_now)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    result: dict[str, Any] | None = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class JobBusy(Exception):
    """A retrain is already queued or running; ``job`` is that one."""

    def __init__(self, job: Job) -> None:
        self.job = job
        super().__init__(f"retrain {job.id} is already {job.status}")


class RetrainJobs:
    """Submit, track and report retrain jobs; keeps the last ``keep`` of them."""

    def __init__(
        self,
        work: Callable[[list[str] | None], dict[str, Any]],
        on_finish: Callable[[bool], None] = lambda ok: None,
        keep: int = 50,
    ) -> None:
        self._work = work
        self._on_finish = on_finish
        self._keep = keep
        self._jobs: OrderedDict[str, Job] = OrderedDict()
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain")

    @property
    def active(self) -> Job | None:
        with self._lock:
            return next((j for j in self._jobs.values() if j.status in ("queued", "running")), None)

    def submit(self, series: list[str] | None) -> Job:
        """Queue a retrain; raises :class:`JobBusy` if one is queued or running."""
        with self._lock:
            busy = next((j for j in self._jobs.values() if j.status in ("queued", "running")), None)
            if busy is not None:
                raise JobBusy(busy)
            job = Job(id=uuid.uuid4().hex, series=series)
            self._jobs[job.id] = job
            while len(self._jobs) > self._keep:
                self._jobs.popitem(last=False)
        self._pool.submit(self._run, job)
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def _run(self, job: Job) -> None:
        job.status, job.started_at = "running", _now()
        ok = False
        try:
            # Plain JSON only: the status route must be able to show whatever came back.
            job.result = json.loads(json.dumps(self._work(job.series), default=str))
            ok = True
        except Exception as exc:  # a failed retrain is reported on the job, not raised
            log.exception("retrain %s failed", job.id)
            job.error = f"{type(exc).__name__}: {exc}"
        finally:
            try:  # before the status: a job reported done has its results served
                self._on_finish(ok)
            except Exception:
                log.exception("after retrain %s", job.id)
            job.finished_at = _now()
            job.status = "succeeded" if ok else "failed"

    def shutdown(self) -> None:
        """Stop taking work; a running retrain finishes in its thread (it writes atomically)."""
        self._pool.shutdown(wait=False, cancel_futures=True)
