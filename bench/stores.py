"""The benchmarks' stores: a SQLite file of bundled data, ingested once and then reused."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecasting.ingest import ingest  # noqa: E402
from forecasting.store import Store  # noqa: E402


def bundled_store(db: Path, files: Sequence[str]) -> Store:
    """The store at ``db``; the first time, ``files`` (paths under ``data/``) are ingested.

    Ingesting every bundled file takes a minute, and a benchmark is rerun
    often, so an existing file is reused as it is (delete it to rebuild).
    """
    fresh = not db.exists()
    db.parent.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{db}")
    if fresh:
        for name in files:
            ingest(store, str(ROOT / "data" / name))
    return store
