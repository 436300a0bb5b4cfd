"""Fixtures shared by every suite: the bundled data, and a store on SQLite or PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from forecasting.ingest import ingest
from forecasting.settings import get_settings
from forecasting.store import Store

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data"
WORKBOOK = DATA / "ohss-khsm-usbp-encounters-fy2000-fy2025.xlsx"
CBP_SW = DATA / "cbp-sw-border-encounters-fy22-fy25-aug.csv"
CBP_STATE_OLD = DATA / "cbp-nationwide-encounters-fy20-fy23-state.csv"
CBP_STATE_NEW = DATA / "cbp-nationwide-encounters-fy23-fy26-nov-state.csv"
TRANSIT = sorted((DATA / "transit").glob("*.csv"))
PG_URL = os.environ.get(
    "BORDERCAST_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def workbook_and_transit(directory: Path) -> Store:
    """A SQLite store in ``directory`` holding the OHSS workbook and every transit file.

    Each module that needs one builds its own (a module may train or detect
    into it), from this one recipe.
    """
    store = Store(f"sqlite:///{directory / 'store.db'}")
    for path in (WORKBOOK, *TRANSIT):
        ingest(store, str(path))
    return store


def postgres_url() -> str:
    """The test database, emptied; skips where PostgreSQL is absent, fails in CI."""
    try:
        engine = create_engine(PG_URL)
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    except Exception as exc:  # psycopg's OperationalError, missing driver, ...
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI and is not reachable at {PG_URL}: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}: {exc}")
    return PG_URL


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bordercast.db'}"
    return postgres_url()


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Point the process settings at a fresh SQLite file under tmp_path."""
    url = f"sqlite:///{tmp_path / 'bordercast.db'}"
    monkeypatch.setenv("BORDERCAST_DATABASE_URL", url)
    monkeypatch.setenv("BORDERCAST_MODEL_DIR", str(tmp_path / "models"))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()
