"""Every service of docker-compose.yml, started without Docker, running the deployment.

PostgreSQL (127.0.0.1:5432) holds both Bordercast's store and the Prefect
server's database; ``scripts/dev-up.sh`` (what ``make up`` runs) starts the
Prefect server with its UI, the deployment's runner and the API; a Dask
scheduler and worker run the tasks; maildev catches mail. The test then runs
the deployment by hand, as an operator would from the UI, and waits for it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import CBP_SW, PG_URL, ROOT, postgres_url
from tests.flows.conftest import BIN, Processes, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.external, pytest.mark.postgres]

COMPOSE = ROOT / "docker-compose.yml"
MAILDEV = ROOT / "tools" / "node_modules" / ".bin" / "maildev"
PREFECT_DB = "bordercast_prefect_test"
SERVICES = {
    "postgres",
    "prefect-db-init",
    "prefect-server",
    "runner",
    "api",
    "dask-scheduler",
    "dask-worker",
    "smtp",
}


def _need(condition: bool, why: str) -> None:
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)


def test_compose_file_is_valid_and_names_every_service() -> None:
    import yaml

    compose = shutil.which("docker-compose")
    _need(compose is not None, "docker-compose is not installed (apt-get install docker-compose)")
    subprocess.run([compose, "-f", str(COMPOSE), "config", "-q"], check=True, cwd=ROOT)
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    assert set(services) == SERVICES
    assert services["runner"]["command"] == ["bordercast", "deploy"]
    assert services["prefect-server"]["command"][:3] == ["prefect", "server", "start"]
    assert all("healthcheck" in s for n, s in services.items() if n != "prefect-db-init")


def _prefect_database() -> str:
    engine = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PREFECT_DB} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {PREFECT_DB}"))
    engine.dispose()
    base = PG_URL.replace("postgresql+psycopg://", "postgresql+asyncpg://").rsplit("/", 1)[0]
    return f"{base}/{PREFECT_DB}"


def _ok(url: str) -> bool:
    return httpx.get(url, timeout=3).status_code == 200


def test_the_stack_runs_the_deployment(processes: Processes, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    _need(MAILDEV.exists(), f"maildev is not installed at {MAILDEV} (npm install, see Makefile)")
    bordercast_db = postgres_url()
    prefect_db = _prefect_database()
    ports = {k: free_port() for k in ("prefect", "api", "dask", "dash", "smtp", "mail")}
    dask = f"tcp://127.0.0.1:{ports['dask']}"
    env = {
        "BORDERCAST_DATABASE_URL": bordercast_db,
        "BORDERCAST_TASK_RUNNER": "dask",
        "BORDERCAST_DASK_ADDRESS": dask,
        "BORDERCAST_SMTP_HOST": "127.0.0.1",
        "BORDERCAST_SMTP_PORT": str(ports["smtp"]),
        "BORDERCAST_PIPELINE_SOURCES": str(CBP_SW),
        "PREFECT_API_DATABASE_CONNECTION_URL": prefect_db,
        "PREFECT_HOME": str(processes.logs / "prefect-home"),
        "PREFECT_RUNNER_POLL_FREQUENCY": "2",
        "PREFECT_PORT": str(ports["prefect"]),
        "PORT": str(ports["api"]),
    }
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    mail = processes.start(
        "smtp",
        [
            str(MAILDEV),
            "--smtp",
            str(ports["smtp"]),
            "--web",
            str(ports["mail"]),
            "--ip",
            "127.0.0.1",
        ],
    )
    scheduler = processes.start(
        "dask-scheduler",
        [
            str(BIN / "dask"),
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(ports["dask"]),
            "--dashboard-address",
            f"127.0.0.1:{ports['dash']}",
        ],
        env,
    )
    processes.start(
        "dask-worker",
        [
            str(BIN / "dask"),
            "worker",
            dask,
            "--nworkers",
            "1",
            "--nthreads",
            "1",
            "--host",
            "127.0.0.1",
            "--no-dashboard",
        ],
        env,
    )
    up = processes.start("dev-up", ["bash", str(ROOT / "scripts" / "dev-up.sh")], env)

    prefect = f"http://127.0.0.1:{ports['prefect']}"
    wait_until(lambda: _ok(f"{prefect}/api/health"), 180, "Prefect server", up)
    wait_until(lambda: _ok(f"http://127.0.0.1:{ports['dash']}/health"), 60, "dask", scheduler)
    wait_until(lambda: _ok(f"http://127.0.0.1:{ports['mail']}/healthz"), 60, "maildev", mail)
    assert "<html" in httpx.get(f"{prefect}/", timeout=10).text.lower()  # the UI
    deployment_url = f"{prefect}/api/deployments/name/monthly-pipeline/monthly"
    wait_until(lambda: _ok(deployment_url), 120, "the deployment", up)
    deployment = httpx.get(deployment_url).json()
    assert deployment["schedules"][0]["schedule"]["cron"] == "0 6 20 * *"
    assert deployment["parameters"] == {"sources": [str(CBP_SW)]}
    backfill_url = f"{prefect}/api/deployments/name/backfill/backfill"
    wait_until(lambda: _ok(backfill_url), 60, "the backfill deployment", up)  # registered second
    assert httpx.get(backfill_url).json()["schedules"] == []
    served = subprocess.run([str(BIN / "bordercast"), "serve", "--help"], capture_output=True)
    if served.returncode == 0:
        wait_until(lambda: _ok(f"http://127.0.0.1:{ports['api']}/health"), 90, "the API", up)

    run = httpx.post(f"{prefect}/api/deployments/{deployment['id']}/create_flow_run", json={})
    run.raise_for_status()
    state: dict = {}
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        state = httpx.get(f"{prefect}/api/flow_runs/{run.json()['id']}").json()["state"]
        if state["type"] in {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}:
            break
        time.sleep(2)
    assert state.get("type") == "COMPLETED", (state, (processes.logs / "dev-up.log").read_text())

    _ctrl_c_stops_the_server_last(up, prefect)


def _children(pid: int) -> dict[int, list[str]]:
    """Direct children of ``pid`` and their arguments (Linux /proc)."""
    kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return {int(k): Path(f"/proc/{k}/cmdline").read_bytes().decode().split("\0")[:-1] for k in kids}


def _ctrl_c_stops_the_server_last(up: subprocess.Popen, prefect: str) -> None:  # type: ignore[type-arg]
    """Ctrl-C in the terminal (SIGINT to dev-up.sh's process group) stops all, the server last.

    On SIGTERM the runner pauses its deployments through the server; with the
    server stopped by the same Ctrl-C, it retried for a minute, then failed.
    """
    kids = _children(up.pid)
    server = next((k for k, argv in kids.items() if argv[2:4] == ["server", "start"]), None)
    runner = next((k for k, argv in kids.items() if argv[-1] == "deploy"), None)
    assert server and runner, kids
    try:
        assert os.getsid(server) == server != os.getsid(up.pid)  # out of the terminal's reach
        os.killpg(up.pid, signal.SIGINT)
        gone: dict[int, float] = {}
        deadline = time.monotonic() + 30
        while len(gone) < 2 and time.monotonic() < deadline:
            now = time.monotonic()  # one reading per poll: both gone in one poll is a tie
            for pid in (runner, server):
                if pid not in gone and not Path(f"/proc/{pid}").exists():
                    gone[pid] = now
            time.sleep(0.05)
        assert set(gone) == {server, runner}, f"still running after 30 s: {kids}"
        assert gone[runner] <= gone[server]
        up.wait(timeout=30)
    finally:  # the server is out of the teardown's reach too
        if Path(f"/proc/{server}").exists():
            os.killpg(server, signal.SIGKILL)
    runner_log = (ROOT / "var" / "log" / "runner.log").read_text()
    assert "All connection attempts failed" not in runner_log, runner_log[-2000:]
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{prefect}/api/health", timeout=3)
