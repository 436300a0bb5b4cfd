"""The store on SQLite and PostgreSQL: idempotent, atomic ingest that keeps revisions."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from forecasting.errors import IngestError, UnknownSeries
from forecasting.ingest import ingest
from forecasting.schema import batches, observations, revisions
from forecasting.store import MIGRATIONS, Store
from tests.conftest import CBP_STATE_NEW, CBP_STATE_OLD, CBP_SW, WORKBOOK
from tests.factories import STATE_HEADER, state_row, write_csv


def snapshot(store: Store) -> tuple[int, int, int, int]:
    with store.engine.connect() as conn:
        return (
            conn.execute(select(func.count()).select_from(observations)).scalar_one(),
            conn.execute(select(func.sum(observations.c.count))).scalar_one() or 0,
            conn.execute(select(func.count()).select_from(batches)).scalar_one(),
            conn.execute(select(func.count()).select_from(revisions)).scalar_one(),
        )


def fiscal_year(store: Store, uid: str, fy: int) -> int:
    frame = store.series_frame([uid])
    months = (frame.ds >= f"{fy - 1}-10-01") & (frame.ds <= f"{fy}-09-01")
    return int(frame[months].y.sum())


@pytest.fixture
def small_release(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "release-1.csv",
        STATE_HEADER,
        [
            state_row("2024", "JAN", "Southwest Land Border", "INDIA", 100),
            state_row("2024", "FEB", "Southwest Land Border", "INDIA", 120),
            state_row("2024", "FEB", "Northern Land Border", "INDIA", 9),
            state_row("2024", "FEB", "Other", "OTHER", 4),
        ],
    )


def test_same_file_twice_changes_nothing(db_url: str, small_release: Path) -> None:
    store = Store(db_url)
    first = ingest(store, str(small_release))
    before = snapshot(store)
    second = ingest(store, str(small_release))
    assert first.new > 0 and not first.already_ingested
    assert second.already_ingested and second.new == second.revised == 0
    assert snapshot(store) == before


def test_newer_release_revises_and_keeps_the_old_value(
    db_url: str, small_release: Path, tmp_path: Path
) -> None:
    store = Store(db_url)
    ingest(store, str(small_release))
    newer = write_csv(
        tmp_path / "release-2.csv",
        STATE_HEADER,
        [
            state_row("2024", "FEB", "Southwest Land Border", "INDIA", 125),
            state_row("2024", "FEB", "Northern Land Border", "INDIA", 9),
            state_row("2024", "FEB", "Other", "OTHER", 4),
            state_row("2024", "MAR", "Southwest Land Border", "INDIA", 140),
        ],
    )
    summary = ingest(store, str(newer))
    frame = store.series_frame(["IN:southwest:all"]).set_index("ds")["y"]
    assert frame[pd.Timestamp("2024-02-01")] == 125
    assert frame[pd.Timestamp("2024-01-01")] == 100
    assert frame[pd.Timestamp("2024-03-01")] == 140
    assert summary.revised > 0 and summary.new > 0 and summary.unchanged > 0
    with store.engine.connect() as conn:
        kept = conn.execute(
            select(revisions.c.old_count, revisions.c.new_count).where(
                revisions.c.citizenship == "IN",
                revisions.c.region == "southwest",
                revisions.c.component == "all",
                revisions.c.month == pd.Timestamp("2024-02-01").date(),
            )
        ).one()
    assert tuple(kept) == (120, 125)


def test_older_release_ingested_late_does_not_overwrite(
    db_url: str, small_release: Path, tmp_path: Path
) -> None:
    store = Store(db_url)
    newer = write_csv(
        tmp_path / "newer.csv",
        STATE_HEADER,
        [
            state_row("2024", "FEB", "Southwest Land Border", "INDIA", 125),
            state_row("2024", "MAR", "Southwest Land Border", "INDIA", 140),
        ],
    )
    ingest(store, str(newer))
    summary = ingest(store, str(small_release))
    frame = store.series_frame(["IN:southwest:all"]).set_index("ds")["y"]
    assert frame[pd.Timestamp("2024-02-01")] == 125
    assert summary.superseded > 0


@pytest.mark.slow
def test_real_releases_on_the_ohss_history(db_url: str) -> None:
    store = Store(db_url)
    ingest(store, str(WORKBOOK))
    assert fiscal_year(store, "CN:southwest:usbp", 2022) == 1970
    assert fiscal_year(store, "CN:southwest:usbp", 2023) == 24050
    mexico_before = store.series_frame(["MX:southwest:usbp"]).ds.max()
    summary = ingest(store, str(CBP_SW))
    mexico = store.series_frame(["MX:southwest:usbp"])
    assert mexico_before == pd.Timestamp("2024-11-01")
    assert mexico.ds.max() == pd.Timestamp("2025-08-01")
    assert summary.revised > 0  # CBP's exact counts replace OHSS's rounded ones
    for path in (CBP_STATE_OLD, CBP_STATE_NEW):
        ingest(store, str(path))
    assert fiscal_year(store, "CN:southwest:all", 2023) == 24314
    assert fiscal_year(store, "CN:southwest:all", 2025) == 4313
    info = {s.unique_id: s for s in store.series()}
    assert info["CN:southwest:all"].last_month == "2025-11"
    assert info["MX:southwest:usbp"].reporting
    assert not info["PE:southwest:usbp"].reporting  # folded into OTHER after Nov 2024


def test_bad_file_changes_nothing(db_url: str, small_release: Path, tmp_path: Path) -> None:
    store = Store(db_url)
    ingest(store, str(small_release))
    before = snapshot(store)
    bad = write_csv(
        tmp_path / "bad.csv",
        STATE_HEADER,
        [
            state_row("2024", "MAR", "Southwest Land Border", "INDIA", 5),
            state_row("2024", "APR", "Southwest Land Border", "INDIA", "-1"),
        ],
    )
    with pytest.raises(IngestError, match=r"bad.csv, line 3, column 'Encounter Count'"):
        ingest(store, str(bad))
    assert snapshot(store) == before


@pytest.mark.slow
def test_kill_in_the_middle_of_an_ingest_leaves_the_store_as_it_was(
    db_url: str, small_release: Path
) -> None:
    store = Store(db_url)
    ingest(store, str(WORKBOOK))
    before = snapshot(store)
    script = textwrap.dedent(f"""
        import os, signal
        import forecasting.store as s
        from forecasting.ingest import ingest
        real = s._log_revisions
        def die(*args, **kwargs):
            real(*args, **kwargs)
            os.kill(os.getpid(), signal.SIGKILL)  # rows written, transaction not committed
        s._log_revisions = die
        ingest(s.Store({db_url!r}), {str(CBP_SW)!r})
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert result.returncode == -9
    store.engine.dispose()
    assert snapshot(Store(db_url)) == before


def test_unknown_series_is_an_error(db_url: str, small_release: Path) -> None:
    store = Store(db_url)
    ingest(store, str(small_release))
    with pytest.raises(UnknownSeries, match="CN:southwest:usbp"):
        store.history("CN", "southwest", "usbp")


def test_as_of_keeps_only_what_was_known(db_url: str, small_release: Path) -> None:
    store = Store(db_url)
    ingest(store, str(small_release))
    assert store.history("IN", "southwest", "all", as_of="2024-01").ds.max() == pd.Timestamp(
        "2024-01-01"
    )


def test_migrations_upgrade_an_existing_database_in_place(db_url: str, small_release: Path) -> None:
    store = Store(db_url)
    ingest(store, str(small_release))
    before = snapshot(store)
    Store(db_url).migrate()  # a second start runs the migrations again: a no-op
    with store.engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == ScriptDirectory(str(MIGRATIONS)).get_current_head()
    assert snapshot(store) == before


def test_fetch_from_an_unreachable_url_says_so(db_url: str) -> None:
    store = Store(db_url)
    with pytest.raises(IngestError, match="offline"):
        ingest(store, "http://127.0.0.1:9/release.csv", retries=1, timeout=1)
