"""The Dask path: a real ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flows.pipeline import INGEST_KEY, ingest
from flows.runners import build_task_runner
from forecasting.store import Store
from tests.flows.conftest import BIN, Processes, artifacts, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.external]


@pytest.fixture
def dask_cluster(processes: Processes) -> Iterator[str]:
    """A scheduler and two single-threaded worker processes that import this checkout."""
    from distributed import Client

    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = processes.start(
        "dask-scheduler",
        [
            str(BIN / "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--dashboard-address",
            f"127.0.0.1:{free_port()}",
        ],
    )
    for i in range(2):
        processes.start(
            f"dask-worker-{i}",
            [
                str(BIN / "dask"),
                "worker",
                address,
                "--nworkers",
                "1",
                "--nthreads",
                "1",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
                "--name",
                f"w{i}",
            ],
        )
    with Client(address, timeout=60) as client:
        wait_until(
            lambda: len(client.scheduler_info()["workers"]) == 2, 90, "two dask workers", scheduler
        )
        yield address


def test_releases_validate_on_the_dask_workers(flow_env, releases, dask_cluster, monkeypatch):  # type: ignore[no-untyped-def]
    from distributed import Client

    monkeypatch.setenv("BORDERCAST_TASK_RUNNER", "dask")
    monkeypatch.setenv("BORDERCAST_DASK_ADDRESS", dask_cluster)
    from forecasting.settings import get_settings

    get_settings.cache_clear()
    first, second = releases
    runner = build_task_runner()
    assert runner.address == dask_cluster
    state = ingest.with_options(task_runner=runner)(
        sources=[str(first), str(second)], return_state=True
    )
    assert state.is_completed(), state.message
    assert [s["new"] > 0 for s in state.result()] == [True, True]
    assert len(Store(flow_env.database_url).batches()) == 2
    assert artifacts(state.state_details.flow_run_id, INGEST_KEY)

    with Client(dask_cluster) as client:
        done = client.run_on_scheduler(
            lambda dask_scheduler: {
                prefix: dict(tp.all_durations)
                for prefix, tp in dask_scheduler.task_prefixes.items()
            }
        )
    # Both releases were parsed by the workers, not in this process.
    assert done["validate_release"].get("compute", 0) > 0, done
