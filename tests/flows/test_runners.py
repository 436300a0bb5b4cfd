"""flows/runners.py: BORDERCAST_TASK_RUNNER picks threads, processes or a Dask cluster."""

from __future__ import annotations

from prefect.task_runners import ProcessPoolTaskRunner, ThreadPoolTaskRunner
from prefect_dask import DaskTaskRunner

from flows.runners import build_task_runner, describe
from forecasting.settings import Settings


def test_each_setting_builds_its_runner() -> None:
    assert isinstance(build_task_runner(Settings(task_runner="thread")), ThreadPoolTaskRunner)
    assert isinstance(build_task_runner(Settings(task_runner="process")), ProcessPoolTaskRunner)
    dask = build_task_runner(Settings(task_runner="dask", dask_address="tcp://127.0.0.1:8786"))
    assert isinstance(dask, DaskTaskRunner) and dask.address == "tcp://127.0.0.1:8786"
    local = build_task_runner(Settings(task_runner="dask"))
    assert isinstance(local, DaskTaskRunner) and local.address is None
    assert local.cluster_kwargs["processes"] is True


def test_the_run_log_says_where_tasks_run() -> None:
    assert (
        describe(Settings(task_runner="dask", dask_address="tcp://h:8786"))
        == "dask at tcp://h:8786"
    )
    assert describe(Settings(task_runner="process")).startswith("process pool of ")
