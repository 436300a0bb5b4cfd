"""Load test of the API: GET /v1/forecasts/CN against GET /health on the same server.

Targets (issue 6): under 50 concurrent clients on this machine, the forecast
route keeps p99 latency under 50 ms and at least half the throughput of
``/health``. The server is started the way ``bordercast serve`` starts it
(uvicorn, one process, the ``create_app`` factory) on a fresh SQLite store
holding the bundled OHSS workbook, with China's model trained and published;
the load comes from ``wrk`` (Debian's package; ``make bench`` installs it as
root) when installed, else from a bounded httpx async loop, and the results go
to ``bench/results/api.json``. The load tool shares the two cores with the
server, so both figures include its cost alike.

Run: ``.venv/bin/python bench/api.py [--duration 15] [--connections 50]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORKBOOK = ROOT / "data" / "ohss-khsm-usbp-encounters-fy2000-fy2025.xlsx"
RESULTS = ROOT / "bench" / "results" / "api.json"


def prepare_store(workdir: Path) -> str:
    """Ingest the workbook into a fresh store and publish China's model."""
    from forecasting.forecasts import retrain
    from forecasting.ingest import ingest
    from forecasting.store import Store

    url = f"sqlite:///{workdir / 'bench.db'}"
    store = Store(url)
    ingest(store, str(WORKBOOK))
    retrain(store, ["CN:all:usbp"])
    store.engine.dispose()
    return url


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "BORDERCAST_DATABASE_URL": url,
        "BORDERCAST_MODEL_DIR": str(workdir / "models"),
        "PYTHONPATH": str(ROOT),
    }
    # The same uvicorn settings as `bordercast serve` (log level info, no access log).
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "service.app:create_app",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "info",
        "--no-access-log",
    ]
    log = (workdir / "server.log").open("wb")
    server = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return server, base
        except httpx.TransportError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError(f"server did not start; see {workdir / 'server.log'}")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit]


def run_wrk(url: str, connections: int, duration: int) -> dict[str, Any]:
    """wrk with 2 threads (the machine's cores) and ``connections`` open connections."""
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    percentiles = {
        f"p{p}_ms": _ms(v) for p, v in re.findall(r"^\s*(50|75|90|99)%\s+(\S+)\s*$", out, re.M)
    }
    if "p99_ms" not in percentiles:
        raise RuntimeError(f"could not read wrk's latency distribution:\n{out}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)$", out, re.M)
    return {
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        **percentiles,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": errors.group(1) if errors else None,
    }


async def _httpx_load(url: str, connections: int, duration: int) -> dict[str, Any]:
    latencies: list[float] = []
    bad = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        stop = time.perf_counter() + duration

        async def worker() -> None:
            nonlocal bad
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                response = await client.get(url)
                latencies.append((time.perf_counter() - t0) * 1000)
                bad += response.status_code >= 300

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = time.perf_counter() - started
    cuts = statistics.quantiles(latencies, n=100)
    return {
        "requests_per_s": len(latencies) / elapsed,
        "requests": len(latencies),
        "p50_ms": cuts[49],
        "p75_ms": cuts[74],
        "p90_ms": cuts[89],
        "p99_ms": cuts[98],
        "non_2xx": bad,
        "socket_errors": None,
    }


def run_httpx(url: str, connections: int, duration: int) -> dict[str, Any]:
    """The fallback: a bounded asyncio loop (the client shares the CPU with the server)."""
    return asyncio.run(_httpx_load(url, connections, duration))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--tool", choices=["auto", "wrk", "httpx"], default="auto")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()

    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "httpx"
    load = run_wrk if tool == "wrk" else run_httpx

    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        workdir = Path(tmp)
        url = prepare_store(workdir)
        server, base = start_server(url, workdir)
        try:
            forecast_url = f"{base}/v1/forecasts/CN"
            first = httpx.get(forecast_url, timeout=60)
            if first.status_code != 200:
                raise SystemExit(f"GET /v1/forecasts/CN answered {first.status_code}: {first.text}")
            load(f"{base}/health", args.connections, 2)  # warm-up
            results = {
                "health": load(f"{base}/health", args.connections, args.duration),
                "forecast": load(forecast_url, args.connections, args.duration),
            }
        finally:
            server.terminate()
            server.wait(10)

    ratio = results["forecast"]["requests_per_s"] / results["health"]["requests_per_s"]
    report = {
        "what": "GET /v1/forecasts/CN vs GET /health, one uvicorn process as `bordercast serve`",
        "tool": tool,
        "tool_version": _tool_version(tool),
        "connections": args.connections,
        "duration_s": args.duration,
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            # Other work on the machine shares the two cores with server and load tool.
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
        },
        "forecast_source": "stored forecast of the published CN model",
        "endpoints": results,
        "forecast_to_health_throughput": round(ratio, 3),
        "targets": {
            "forecast_p99_ms_below": 50,
            "forecast_throughput_ratio_at_least": 0.5,
        },
        "passed": results["forecast"]["p99_ms"] < 50
        and ratio >= 0.5
        and results["forecast"]["non_2xx"] == 0,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    if not report["passed"]:
        sys.exit(1)


def _tool_version(tool: str) -> str:
    if tool == "httpx":
        return f"httpx {httpx.__version__}"
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (done.stdout or done.stderr).splitlines()[0].strip()


if __name__ == "__main__":
    main()
