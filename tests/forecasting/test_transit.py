"""Transit indicators: the reader, the indicator store, and their measured lead.

The published figures come from the bundled files in ``data/transit/``; the
bad inputs and the revision cases are small files the tests write.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select
from typer.testing import CliRunner

from forecasting.errors import IngestError, UnknownCitizenship
from forecasting.indicators import (
    indicator_frame,
    indicators_for,
    parse_month,
    relation,
)
from forecasting.ingest import ingest
from forecasting.readers import TransitReading, detect, read
from forecasting.schema import (
    batches,
    indicator_revisions,
    indicator_values,
    metadata,
    observations,
)
from forecasting.store import Store
from tests.conftest import CBP_STATE_NEW, CBP_STATE_OLD, DATA, WORKBOOK
from tests.factories import AOR_HEADER, STATE_HEADER, aor_row, state_row, write_csv

TRANSIT = DATA / "transit"
DARIEN = TRANSIT / "panama-darien-irregular-transit-by-nationality.csv"
MEXICO = TRANSIT / "mexico-irregular-migrants-by-nationality.csv"
ENTRIES = TRANSIT / "regular-entries-by-nationality.csv"
DARIEN_HEADER, MEXICO_HEADER, ENTRIES_HEADER = "t,q,nat,n", "t,nat,n", "t,geo,nat,n"
FISCAL = ("OCT", "NOV", "DEC", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP")


def read_file(path: Path) -> TransitReading:
    reading = read(path.name, path.read_bytes())
    assert isinstance(reading, TransitReading)
    return reading


def monthly(reading: TransitReading, indicator: str, code: str) -> pd.Series:
    v = reading.values
    part = v[(v.indicator == indicator) & (v.citizenship == code) & (v.period == "month")]
    return part.set_index("month")["count"]


def yearly(series: pd.Series) -> dict[int, int]:
    return {int(y): int(c) for y, c in series.groupby(series.index.year).sum().items()}


def darien_row(month: str, nat: str, count: int | str) -> str:
    ts = pd.Timestamp(month)
    return f"{month},{ts.year} Q{ts.quarter},{nat},{count}"


@pytest.fixture(scope="module")
def darien() -> TransitReading:
    return read_file(DARIEN)


@pytest.fixture(scope="module")
def mexico() -> TransitReading:
    return read_file(MEXICO)


@pytest.fixture(scope="module")
def china_southwest_all() -> pd.Series:
    """China's southwest encounters (USBP + OFO) from the two CBP state releases."""
    parts = []
    for path in (CBP_STATE_OLD, CBP_STATE_NEW):
        c = read(path.name, path.read_bytes()).counts
        cn = c[(c.citizenship == "CN") & (c.region == "southwest") & (c.component == "all")]
        parts.append(cn.set_index("month")["count"])
    both = pd.concat(parts)
    return both[~both.index.duplicated(keep="last")].sort_index()


# -- reader ---------------------------------------------------------------------


def test_darien_file_gives_panamas_published_china_totals(darien: TransitReading) -> None:
    assert darien.source == "panama-darien"
    totals = yearly(monthly(darien, "panama-darien", "CN"))
    assert (totals[2022], totals[2023], totals[2024]) == (2005, 25565, 12398)
    assert set(darien.values["geo"]) == {"PAN"}


def test_darien_2010_2019_are_annual_totals_not_january_counts(darien: TransitReading) -> None:
    v = darien.values
    annual = v[v.period == "year"]
    assert set(annual.month.dt.year) == set(range(2010, 2020))
    assert set(annual.month.dt.month) == {1}
    assert v[(v.period == "month")].month.min() == pd.Timestamp("2020-01-01")
    cn = annual[annual.citizenship == "CN"].set_index("month")["count"]
    assert cn[pd.Timestamp("2010-01-01")] == 268
    assert darien.first_month == pd.Timestamp("2010-01-01")
    assert darien.last_month == pd.Timestamp("2025-04-01")  # the vintage is a monthly count


def test_absent_rows_are_zero_but_unreported_months_stay_unknown(darien: TransitReading) -> None:
    cn = monthly(darien, "panama-darien", "CN")
    assert cn[pd.Timestamp("2020-01-01")] == 0  # the file reports January 2020, not China
    assert pd.Timestamp("2020-04-01") not in cn.index  # no row at all that month
    assert not darien.values.duplicated(["indicator", "citizenship", "period", "month"]).any()


def test_mexico_file_gives_the_bulletins_china_totals(mexico: TransitReading) -> None:
    assert mexico.source == "mexico-irregular"
    totals = yearly(monthly(mexico, "mexico-irregular", "CN"))
    assert (totals[2023], totals[2024]) == (14014, 15804)
    assert monthly(mexico, "mexico-irregular", "CN").index.max() == pd.Timestamp("2025-04-01")


def test_rows_the_source_folds_into_one_code_are_summed(mexico: TransitReading) -> None:
    # The bulletin lists GIN twice in May 2019 (8 and 1).
    assert monthly(mexico, "mexico-irregular", "GN")[pd.Timestamp("2019-05-01")] == 9


def test_regular_entries_become_one_indicator_per_country() -> None:
    entries = read_file(ENTRIES)
    assert entries.source == "regular-entries"
    assert set(entries.values.indicator) == {
        f"entries-{g}"
        for g in ("ARG", "BOL", "BRA", "COL", "CRI", "ECU", "GTM", "HND", "MEX", "PER")
    }
    ecu = monthly(entries, "entries-ECU", "CN")
    before = ecu["2024-01-01":"2024-06-01"]
    after = ecu["2024-07-01":"2024-12-01"]
    assert before.between(2500, 4500).all() and 3000 <= before.mean() <= 4000
    assert after.between(900, 1200).all()  # Ecuador required visas again from July 2024


@pytest.mark.parametrize(
    ("header", "kind"),
    [
        (DARIEN_HEADER, "panama-darien"),
        (MEXICO_HEADER, "mexico-irregular"),
        (ENTRIES_HEADER, "regular-entries"),
    ],
)
def test_transit_format_is_detected_from_the_header(header: str, kind: str) -> None:
    assert detect("x.csv", f"{header}\n".encode()) == kind


def error_for(tmp_path: Path, content: bytes, name: str = "bad.csv") -> IngestError:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError) as info:
        read(path.name, path.read_bytes())
    assert info.value.file == name
    return info.value


def lines(header: str, *rows: str) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


@pytest.mark.parametrize(
    ("content", "line", "column", "message"),
    [
        (lines(MEXICO_HEADER, "2024-01,CHN,5", "2024-13,CHN,5"), 3, "t", "YYYY-MM"),
        (lines(MEXICO_HEADER, "2024-01,CHN,5", "2024/02,CHN,5"), 3, "t", "YYYY-MM"),
        (lines(MEXICO_HEADER, "202401,CHN,5"), 2, "t", "YYYY-MM"),
        (lines(MEXICO_HEADER, "2024-01,CHN,5", "2024-02,CHN,-1"), 3, "n", "non-negative"),
        (lines(MEXICO_HEADER, "2024-01,CHN,2.5"), 2, "n", "non-negative"),
        (lines(MEXICO_HEADER, "2024-01,CHN,5", "2024-01,ATL,5"), 3, "nat", "ATL"),
        (lines(ENTRIES_HEADER, "2024-01,ECU,CHN,5", "2024-01,XYZ,CHN,5"), 3, "geo", "XYZ"),
        (lines("t,nat,n,note", "2024-01,CHN,5,x"), 1, "note", "unexpected column"),
        (
            lines(DARIEN_HEADER, darien_row("2024-01", "CHN", 5), "2024-05,2024 Q1,CHN,5"),
            3,
            "q",
            "quarter",
        ),
        (lines(DARIEN_HEADER, "2015-03,2015 Q1,CHN,5"), 2, "t", "annual"),
        (lines(MEXICO_HEADER, "2024-01,CHN,5", "2024-02,CHN"), 3, "n", "truncated"),
    ],
)
def test_bad_cell_names_file_line_and_column(
    tmp_path: Path, content: bytes, line: int, column: str, message: str
) -> None:
    err = error_for(tmp_path, content)
    assert (err.line, err.column) == (line, column)
    assert message in str(err)


def test_missing_column_is_named(tmp_path: Path) -> None:
    err = error_for(tmp_path, lines("t,nat", "2024-01,CHN"))
    assert err.line == 1
    assert "'n'" in str(err) and "mexico-irregular" in str(err)


def test_truncated_real_file_names_the_short_line(tmp_path: Path) -> None:
    raw = MEXICO.read_bytes()[:3000]
    raw = raw[: raw.rfind(b",")]  # cut off inside the last row's count
    err = error_for(tmp_path, raw)
    assert (err.line, err.column) == (raw.count(b"\n") + 1, "n")


def test_non_utf8_and_empty_files_are_refused(tmp_path: Path) -> None:
    latin = ("\n".join([MEXICO_HEADER, "2024-01,CHN,5", "2024-01,CÔT,1"]) + "\n").encode("latin-1")
    err = error_for(tmp_path, latin)
    assert err.line == 3 and "UTF-8" in str(err)
    assert "empty" in str(error_for(tmp_path, b""))
    assert "no data rows" in str(error_for(tmp_path, lines(DARIEN_HEADER)))


# -- store ----------------------------------------------------------------------


def snapshot(store: Store) -> tuple[int, ...]:
    with store.engine.connect() as conn:
        counts = [
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (observations, batches, indicator_values, indicator_revisions)
        ]
        total = conn.execute(select(func.sum(indicator_values.c.count))).scalar_one() or 0
        return (*counts, total)


@pytest.fixture
def mexico_release(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "mexico-1.csv",
        MEXICO_HEADER,
        ["2024-01,CHN,100", "2024-02,CHN,120", "2024-02,IND,9"],
    )


@pytest.fixture
def mexico_newer(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "mexico-2.csv",
        MEXICO_HEADER,
        ["2024-02,CHN,125", "2024-02,IND,9", "2024-03,CHN,140"],
    )


def test_transit_file_is_an_indicator_batch_never_encounters(db_url: str) -> None:
    store = Store(db_url)
    summary = ingest(store, str(DARIEN))
    assert (summary.source, summary.first_month, summary.last_month) == (
        "panama-darien",
        "2010-01",
        "2025-04",
    )
    assert summary.new > 0 and summary.series == 96
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(observations)).scalar_one() == 0
        assert conn.execute(select(batches.c.source)).scalars().all() == ["panama-darien"]
    frame = indicator_frame(store, "China")
    cn = frame[frame.unique_id == "panama-darien:CN"].set_index("ds")["y"]
    totals = yearly(cn)
    assert (totals[2022], totals[2023], totals[2024]) == (2005, 25565, 12398)
    assert frame.ds.min() >= pd.Timestamp("2020-01-01")  # annual totals are no months
    annual = indicators_for(store, "CN")["indicators"][0]["annual"]
    assert annual[0] == {"year": 2010, "count": 268}


def test_same_transit_file_twice_changes_nothing(db_url: str, mexico_release: Path) -> None:
    store = Store(db_url)
    first = ingest(store, str(mexico_release))
    before = snapshot(store)
    second = ingest(store, str(mexico_release))
    assert first.new == 4 and not first.already_ingested  # IND January is an explicit 0
    assert second.already_ingested and second.new == second.revised == 0
    assert snapshot(store) == before


def stored(store: Store) -> pd.Series:
    frame = indicator_frame(store)
    return frame.set_index(["unique_id", "ds"])["y"]


def test_newer_transit_file_revises_and_keeps_the_old_value(
    db_url: str, mexico_release: Path, mexico_newer: Path
) -> None:
    store = Store(db_url)
    ingest(store, str(mexico_release))
    summary = ingest(store, str(mexico_newer))
    values = stored(store)
    assert values[("mexico-irregular:CN", pd.Timestamp("2024-01-01"))] == 100
    assert values[("mexico-irregular:CN", pd.Timestamp("2024-02-01"))] == 125
    assert values[("mexico-irregular:CN", pd.Timestamp("2024-03-01"))] == 140
    assert values[("mexico-irregular:IN", pd.Timestamp("2024-03-01"))] == 0
    assert (summary.new, summary.revised, summary.unchanged) == (2, 1, 1)
    with store.engine.connect() as conn:
        kept = conn.execute(
            select(
                indicator_revisions.c.old_count,
                indicator_revisions.c.new_count,
                indicator_revisions.c.kind,
            )
        ).all()
    assert [tuple(k) for k in kept] == [(120, 125, "revised")]


def test_older_transit_file_ingested_late_does_not_overwrite(
    db_url: str, mexico_release: Path, mexico_newer: Path
) -> None:
    store = Store(db_url)
    ingest(store, str(mexico_newer))
    summary = ingest(store, str(mexico_release))
    assert stored(store)[("mexico-irregular:CN", pd.Timestamp("2024-02-01"))] == 125
    assert summary.superseded == 1
    with store.engine.connect() as conn:
        kind = conn.execute(select(indicator_revisions.c.kind)).scalar_one()
    assert kind == "superseded"


def test_bad_transit_file_changes_nothing(
    db_url: str, mexico_release: Path, tmp_path: Path
) -> None:
    store = Store(db_url)
    ingest(store, str(mexico_release))
    before = snapshot(store)
    bad = write_csv(tmp_path / "bad.csv", MEXICO_HEADER, ["2024-03,CHN,5", "2024-04,CHN,x"])
    with pytest.raises(IngestError, match=r"bad.csv, line 3, column 'n'"):
        ingest(store, str(bad))
    assert snapshot(store) == before


def test_as_of_drops_counts_not_yet_published(db_url: str, tmp_path: Path) -> None:
    store = Store(db_url)
    months = ["2024-05", "2024-06", "2024-07"]
    ingest(
        store,
        str(
            write_csv(tmp_path / "d.csv", DARIEN_HEADER, [darien_row(m, "CHN", 10) for m in months])
        ),
    )
    ingest(
        store, str(write_csv(tmp_path / "m.csv", MEXICO_HEADER, [f"{m},CHN,10" for m in months]))
    )

    def last(**kwargs: object) -> dict[str, pd.Timestamp]:
        return indicator_frame(store, "CN", **kwargs).groupby("unique_id").ds.max().to_dict()

    july, june = pd.Timestamp("2024-07-01"), pd.Timestamp("2024-06-01")
    assert last(as_of="2024-07") == {"panama-darien:CN": july, "mexico-irregular:CN": june}
    assert last(as_of="2024-07", lags={"mexico-irregular": 0})["mexico-irregular:CN"] == july
    assert last(as_of="2024-06")["panama-darien:CN"] == june
    assert last()["mexico-irregular:CN"] == july


def test_migration_creates_the_indicator_tables_as_the_schema_says(db_url: str) -> None:
    store = Store(db_url)
    with store.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    assert [d for d in diffs if "indicator_" in repr(d)] == []


# -- relation -------------------------------------------------------------------


def months(n: int, start: str = "2021-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="MS")


def test_relation_finds_the_lead_that_was_built_in() -> None:
    rng = np.random.default_rng(7)
    ind = pd.Series(np.cumsum(rng.normal(0, 50, 40)) + 1000, index=months(40))
    enc = pd.Series(3 * ind.to_numpy()[:-2] + rng.normal(0, 5, 38), index=months(38, "2021-03"))
    found = relation(ind, enc, max_lead=6)
    assert found["lead_months"] == 2 and found["correlation"] > 0.99
    assert (found["start"], found["end"], found["n"]) == ("2021-03", "2024-04", 38)
    assert relation(ind, enc, max_lead=1)["lead_months"] in (0, 1)  # 2 is out of reach


def test_relation_uses_only_months_up_to_as_of_and_skips_gaps() -> None:
    ind = pd.Series(np.arange(30.0) ** 1.5, index=months(30))
    enc = ind.copy()
    enc.iloc[5] = np.nan  # unknown, never zero
    found = relation(ind, enc, as_of="2022-06")
    assert (found["lead_months"], found["end"], found["n"]) == (0, "2022-06", 17)


def test_relation_without_enough_overlap_or_variation_says_none() -> None:
    ind = pd.Series(np.arange(24.0), index=months(24))
    none = {"lead_months": None, "correlation": None, "start": None, "end": None, "n": 0}
    assert relation(ind, ind.iloc[:8]) == none
    assert relation(ind, pd.Series(5.0, index=months(24))) == none
    with pytest.raises(ValueError, match="max_lead"):
        relation(ind, ind, max_lead=-1)
    with pytest.raises(ValueError, match="as_of"):
        parse_month("2024-13")


def test_china_darien_leads_southwest_encounters_by_one_month(
    darien: TransitReading, china_southwest_all: pd.Series
) -> None:
    cn = monthly(darien, "panama-darien", "CN")
    found = relation(cn[cn.index >= "2022-01-01"], china_southwest_all, as_of="2024-12")
    assert found["lead_months"] == 1
    assert 0.96 <= found["correlation"] <= 0.985
    assert (found["start"], found["end"]) == ("2022-02", "2024-12")


def encounter_file(tmp_path: Path, counts: pd.Series) -> Path:
    """A CBP state release with China's southwest counts, one row per month."""
    rows = [
        state_row(
            str(m.year + (m.month >= 10)),
            FISCAL[(m.month - 10) % 12],
            "Southwest Land Border",
            "CHINA, PEOPLES REPUBLIC OF",
            int(c),
        )
        for m, c in counts.items()
    ]
    return write_csv(tmp_path / "cbp-state.csv", STATE_HEADER, rows)


def test_indicators_for_puts_each_series_beside_its_lead(
    db_url: str, tmp_path: Path, china_southwest_all: pd.Series
) -> None:
    store = Store(db_url)
    ingest(store, str(encounter_file(tmp_path, china_southwest_all["2022-01-01":])))
    ingest(store, str(DARIEN))
    out = indicators_for(store, "china", as_of="2024-12")
    assert out["citizenship"] == {"code": "CN", "name": "China"}
    assert out["as_of"] == "2024-12"
    assert out["encounters"] == {"region": "southwest", "component": "all"}
    (darien,) = out["indicators"]
    assert (darien["id"], darien["source"], darien["geo"]) == (
        "panama-darien:CN",
        "panama-darien",
        "PAN",
    )
    assert darien["history"][-1]["month"] == "2024-12"
    assert darien["relation"]["lead_months"] == 1
    assert 0.96 <= darien["relation"]["correlation"] <= 0.985
    with pytest.raises(UnknownCitizenship):
        indicators_for(store, "Atlantis")


def test_usbp_is_the_encounter_series_where_no_sum_is_reported(db_url: str, tmp_path: Path) -> None:
    store = Store(db_url)
    usbp_only = write_csv(
        tmp_path / "aor.csv",
        AOR_HEADER,
        [
            aor_row("2024", m, "U.S. Border Patrol", "Southwest Land Border", "CHINA", c)
            for m, c in zip(FISCAL[:6], (10, 20, 40, 30, 60, 50), strict=True)
        ],
    )
    ingest(store, str(usbp_only))
    ingest(
        store, str(write_csv(tmp_path / "d.csv", DARIEN_HEADER, [darien_row("2023-09", "CHN", 5)]))
    )
    out = indicators_for(store, "CN")
    assert out["encounters"] == {"region": "southwest", "component": "usbp"}
    assert out["indicators"][0]["relation"]["n"] == 0  # too short to measure: said, not faked


def test_cli_prints_the_indicators_of_a_citizenship(settings_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from bordercast.cli import app

    store = Store(settings_env.database_url)
    ingest(store, str(write_csv(tmp_path / "m.csv", MEXICO_HEADER, ["2024-05,CHN,10"])))
    runner = CliRunner()
    done = runner.invoke(app, ["indicators", "CN", "--json"])
    assert done.exit_code == 0, done.output
    assert '"id": "mexico-irregular:CN"' in done.output
    text = runner.invoke(app, ["indicators", "China", "--as-of", "2024-06"])
    assert "mexico-irregular:CN" in text.output and "2024-05" in text.output


@pytest.mark.slow
def test_real_files_end_to_end_on_the_full_history(db_url: str) -> None:
    """Every bundled file: China's three indicators lead as the README says."""
    store = Store(db_url)
    for path in (WORKBOOK, CBP_STATE_OLD, CBP_STATE_NEW, DARIEN, MEXICO, ENTRIES):
        ingest(store, str(path))
    again = ingest(store, str(ENTRIES))
    assert again.already_ingested
    out = indicators_for(store, "CN", as_of="2024-12")
    by_id = {i["id"]: i for i in out["indicators"]}
    assert out["encounters"]["component"] == "all"
    darien = by_id["panama-darien:CN"]["relation"]
    assert darien["lead_months"] == 1 and 0.96 <= darien["correlation"] <= 0.985
    assert by_id["entries-ECU:CN"]["relation"]["lead_months"] == 1
    mexico = by_id["mexico-irregular:CN"]
    assert mexico["history"][-1]["month"] == "2024-11"  # published a month after CBP
    assert mexico["lag_months"] == 1
    usbp = store.series_frame(["CN:southwest:usbp"]).set_index("ds")["y"]
    cn = indicator_frame(store, "CN").query("unique_id == 'panama-darien:CN'").set_index("ds")["y"]
    found = relation(cn[cn.index >= "2022-01-01"], usbp, as_of="2024-12")
    assert found["lead_months"] == 1 and 0.96 <= found["correlation"] <= 0.985


def test_publication_lags_are_a_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from forecasting.indicators import publication_lags
    from forecasting.settings import get_settings

    monkeypatch.setenv("BORDERCAST_INDICATOR_LAGS", '{"mexico-irregular": 2}')
    get_settings.cache_clear()
    try:
        assert publication_lags() == {
            "panama-darien": 0,
            "mexico-irregular": 2,
            "regular-entries": 0,
        }
        monkeypatch.setenv("BORDERCAST_INDICATOR_LAGS", '{"panama-darien": -1}')
        get_settings.cache_clear()
        with pytest.raises(ValueError, match="lags must be >= 0"):
            get_settings()
    finally:
        get_settings.cache_clear()
