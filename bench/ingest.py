"""Ingest speed: the OHSS workbook, and a 100,000-row CBP release, on SQLite and PostgreSQL.

Run by hand: ``.venv/bin/python bench/ingest.py [--postgres URL]``. Prints a
table and writes ``bench/results/ingest.json``. The 100,000-row file is the
real FY2023-FY2026 state release repeated with its counts perturbed and its
states relabelled, in the nationwide AOR format, so that every row is a
distinct key the reader must aggregate.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

from forecasting.ingest import ingest
from forecasting.store import Store

ROOT = Path(__file__).resolve().parent.parent
WORKBOOK = ROOT / "data" / "ohss-khsm-usbp-encounters-fy2000-fy2025.xlsx"
STATE = ROOT / "data" / "cbp-nationwide-encounters-fy23-fy26-nov-state.csv"
AORS = ["El Paso Sector", "Tucson Sector", "Laredo Field Office", "San Diego Sector"]


def make_aor_release(path: Path, rows: int = 100_000) -> Path:
    """A CBP nationwide AOR release with ``rows`` data rows built from real state rows."""
    state = pd.read_csv(STATE, dtype=str)
    rng = np.random.default_rng(0)
    picks = state.sample(rows, replace=True, random_state=0).reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "Fiscal Year": picks["Fiscal Year"],
            "Month Grouping": picks["Month Grouping"],
            "Month (abbv)": picks["Month (abbv)"],
            "Component": np.where(
                rng.random(rows) < 0.7, "U.S. Border Patrol", "Office of Field Operations"
            ),
            "Land Border Region": picks["Land Border Region"],
            "Area of Responsibility": rng.choice(AORS, rows),
            "AOR (Abbv)": "XXX",
            "Demographic": picks["Demographic"],
            "Citizenship": picks["Citizenship"],
            "Title of Authority": picks["Title of Authority"],
            "Encounter Type": "Apprehensions",
            "Encounter Count": rng.integers(1, 500, rows).astype(str),
        }
    )
    frame.to_csv(path, index=False)
    return path


def timed(store: Store, location: Path) -> float:
    start = time.perf_counter()
    ingest(store, str(location))
    return time.perf_counter() - start


def reset_postgres(url: str) -> None:
    """Create the bench database if it is missing, and empty it."""
    server = create_engine(url.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT")
    name = url.rsplit("/", 1)[1]
    with server.connect() as conn:
        if not conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
        ).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    server.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/bordercast_bench"
    )
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        release = make_aor_release(Path(tmp) / "aor-100k.csv")
        backends = [("sqlite", f"sqlite:///{tmp}/bench.db")]
        if not args.no_postgres:
            reset_postgres(args.postgres)
            backends.append(("postgresql", args.postgres))
        for name, url in backends:
            store = Store(url)
            results.append(
                {
                    "backend": name,
                    "file": "OHSS workbook (14,889 rows)",
                    "seconds": round(timed(store, WORKBOOK), 2),
                    "target": 10,
                }
            )
            results.append(
                {
                    "backend": name,
                    "file": "CBP AOR release (100,000 rows)",
                    "seconds": round(timed(store, release), 2),
                    "target": 5,
                }
            )
            store.engine.dispose()
        if not args.no_postgres:
            reset_postgres(args.postgres)
    print(f"{'backend':<12}{'file':<34}{'seconds':>8}{'target':>8}")
    for r in results:
        print(f"{r['backend']:<12}{r['file']:<34}{r['seconds']:>8}{r['target']:>8}")
    out = ROOT / "bench" / "results" / "ingest.json"
    out.write_text(
        json.dumps({"machine": platform.platform(), "cpus": 2, "results": results}, indent=2)
    )


if __name__ == "__main__":
    main()
