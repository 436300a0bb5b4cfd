"""The task runner the parallel steps use, chosen by ``BORDERCAST_TASK_RUNNER``.

- ``thread``: Prefect's ``ThreadPoolTaskRunner`` (the default; fine for I/O
  and for libraries that release the GIL);
- ``process``: ``ProcessPoolTaskRunner``, one process per core;
- ``dask``: ``prefect_dask.DaskTaskRunner`` on the cluster at
  ``BORDERCAST_DASK_ADDRESS`` (a running ``dask scheduler``), or a local
  cluster of worker processes when no address is set. Dask workers must be
  able to import ``flows`` and ``forecasting`` (same checkout or image) and
  reach the database and the Prefect API.

Runners are built when a run starts, never at import, so a deployment picks
up the settings of the process that serves it.
"""

from __future__ import annotations

import os
from typing import Any

from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from flows.library import Settings, get_settings


def workers() -> int:
    """Cores this process may use (a container's CPU set, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def build_task_runner(settings: Settings | None = None) -> TaskRunner[Any]:
    """A fresh task runner for one flow run, as the settings say."""
    settings = settings or get_settings()
    kind = settings.task_runner
    if kind == "thread":
        return ThreadPoolTaskRunner(max_workers=max(4, workers()))
    if kind == "process":
        return ProcessPoolTaskRunner(max_workers=workers())
    from prefect_dask import DaskTaskRunner

    if settings.dask_address:
        return DaskTaskRunner(address=settings.dask_address)
    return DaskTaskRunner(
        cluster_kwargs={"n_workers": workers(), "threads_per_worker": 1, "processes": True}
    )


def describe(settings: Settings | None = None) -> str:
    """One line for the run log: which runner, and where."""
    settings = settings or get_settings()
    if settings.task_runner == "dask":
        return f"dask at {settings.dask_address}" if settings.dask_address else "dask (local)"
    return f"{settings.task_runner} pool of {workers()}"
