"""``bordercast serve`` as an operator runs it: a real process on a fresh, empty database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.service.server import free_port

pytestmark = pytest.mark.external


def test_serve_starts_and_answers_before_any_data_or_model(tmp_path: Path) -> None:
    port = free_port()
    env = {
        **os.environ,
        "BORDERCAST_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}",
        "BORDERCAST_MODEL_DIR": str(tmp_path / "models"),
    }
    env.pop("BORDERCAST_API_KEY", None)
    server = subprocess.Popen(
        [sys.executable, "-m", "bordercast", "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{base}/health", timeout=2)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    out = server.stdout.read().decode() if server.stdout else ""
                    pytest.fail(f"bordercast serve did not come up:\n{out}")
                time.sleep(0.2)
        assert health.json()["status"] == "ok"
        assert httpx.get(f"{base}/v1/forecasts/CN").status_code == 404  # no data at all
        assert httpx.get(f"{base}/v1/subscriptions").status_code == 404  # no key: off
        assert httpx.get(f"{base}/docs").status_code == 200
    finally:
        server.terminate()
        server.wait(15)
