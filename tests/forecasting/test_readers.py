"""Readers: format detection, canonical counts and the bad-input guarantees."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from forecasting.errors import IngestError
from forecasting.readers import detect, read
from tests.conftest import CBP_STATE_NEW, CBP_SW, WORKBOOK
from tests.factories import (
    AOR_HEADER,
    STATE_HEADER,
    SW_HEADER,
    aor_row,
    state_row,
    sw_row,
    write_csv,
)


def fiscal_total(counts: pd.DataFrame, code: str, region: str, component: str) -> dict[int, int]:
    part = counts[
        (counts.citizenship == code) & (counts.region == region) & (counts.component == component)
    ]
    fy = part.month.dt.year + (part.month.dt.month >= 10)
    return part.groupby(fy)["count"].sum().to_dict()


@pytest.fixture(scope="module")
def workbook():  # type: ignore[no-untyped-def]
    return read(WORKBOOK.name, WORKBOOK.read_bytes())


def test_workbook_gives_the_published_china_figures(workbook) -> None:  # type: ignore[no-untyped-def]
    totals = fiscal_total(workbook.counts, "CN", "southwest", "usbp")
    assert totals[2022] == 1970
    assert totals[2023] == 24050
    cn = workbook.counts.query("citizenship == 'CN' and region == 'southwest'")
    assert cn[cn.month.dt.year == 2023]["count"].sum() == 37160


def test_workbook_covers_302_months_of_usbp_only(workbook) -> None:  # type: ignore[no-untyped-def]
    assert workbook.source == "ohss"
    assert workbook.rows == 14889
    assert workbook.first_month == pd.Timestamp("1999-10-01")
    assert workbook.last_month == pd.Timestamp("2024-11-01")
    assert workbook.counts["month"].nunique() == 302
    assert set(workbook.counts["component"]) == {"usbp"}
    assert set(workbook.counts["region"]) == {"southwest", "northern", "other", "all"}


def test_workbook_sums_are_taken_within_the_file(workbook) -> None:  # type: ignore[no-untyped-def]
    c = workbook.counts
    month = pd.Timestamp("2023-05-01")
    regions = c[(c.citizenship == "CN") & (c.month == month) & (c.region != "all")]["count"].sum()
    total = c[(c.citizenship == "CN") & (c.month == month) & (c.region == "all")]["count"].item()
    assert regions == total
    every = c[(c.citizenship != "ALL") & (c.month == month) & (c.region == "southwest")]
    all_row = c[(c.citizenship == "ALL") & (c.month == month) & (c.region == "southwest")]
    assert all_row["count"].item() == every["count"].sum()


def test_missing_months_in_the_workbook_are_zero_not_absent(workbook) -> None:  # type: ignore[no-untyped-def]
    cn = workbook.counts.query("citizenship == 'CN' and region == 'northern'")
    assert len(cn) == 302
    assert (cn["count"] == 0).any()


def test_state_release_reports_the_sum_of_components() -> None:
    reading = read(CBP_STATE_NEW.name, CBP_STATE_NEW.read_bytes())
    assert reading.source == "cbp-state"
    assert set(reading.counts["component"]) == {"all"}
    totals = fiscal_total(reading.counts, "CN", "southwest", "all")
    assert totals[2023] == 24314
    assert totals[2024] == 38246
    assert totals[2025] == 4313
    assert reading.last_month == pd.Timestamp("2025-11-01")
    assert set(reading.details["demographic"]) == {
        "accompanied_minors",
        "fmua",
        "single_adults",
        "uc",
    }


def test_southwest_release_covers_one_region() -> None:
    reading = read(CBP_SW.name, CBP_SW.read_bytes())
    assert reading.source == "cbp-sw"
    assert set(reading.counts["region"]) == {"southwest"}
    assert set(reading.counts["citizenship"]) == {"MX", "GT", "HN", "SV", "OTHER", "ALL"}
    assert set(reading.counts["component"]) == {"usbp", "ofo", "all"}


def test_aor_rows_repeat_a_key_and_are_summed(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "aor.csv",
        AOR_HEADER,
        [
            aor_row(
                "2024",
                "JAN",
                "U.S. Border Patrol",
                "Southwest Land Border",
                "CHINA, PEOPLES REPUBLIC OF",
                7,
            ),
            aor_row(
                "2024",
                "JAN",
                "U.S. Border Patrol",
                "Southwest Land Border",
                "CHINA, PEOPLES REPUBLIC OF",
                5,
                aor="Tucson Sector",
                title="Title 42",
            ),
            aor_row(
                "2024", "JAN", "Office of Field Operations", "Northern Land Border", "INDIA", 3
            ),
            aor_row("2024", "FEB", "Office of Field Operations", "Other", "INDIA", 2),
        ],
    )
    reading = read(path.name, path.read_bytes())
    c = reading.counts.set_index(["month", "citizenship", "region", "component"])["count"]
    jan = pd.Timestamp("2024-01-01")
    assert reading.source == "cbp-aor"
    assert c[(jan, "CN", "southwest", "usbp")] == 12
    assert c[(jan, "CN", "all", "all")] == 12
    assert c[(jan, "IN", "northern", "all")] == 3
    assert c[(pd.Timestamp("2024-02-01"), "CN", "southwest", "usbp")] == 0
    assert c[(jan, "ALL", "all", "all")] == 15


def test_fiscal_months_before_january_fall_in_the_previous_calendar_year(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "s.csv",
        STATE_HEADER,
        [
            state_row("2023 (FYTD)", "OCT", "Southwest Land Border", "INDIA", 4),
            state_row("2023 (FYTD)", "SEP", "Southwest Land Border", "INDIA", 6),
        ],
    )
    reading = read(path.name, path.read_bytes())
    assert reading.first_month == pd.Timestamp("2022-10-01")
    assert reading.last_month == pd.Timestamp("2023-09-01")


def test_format_is_detected_from_the_header(tmp_path: Path) -> None:
    for header, row, kind in [
        (STATE_HEADER, state_row("2024", "JAN", "Other", "CUBA", 1), "cbp-state"),
        (SW_HEADER, sw_row("2024", "JAN", "U.S. Border Patrol", "Mexico", 1), "cbp-sw"),
    ]:
        path = write_csv(tmp_path / "x.csv", header, [row])
        assert detect(path.name, path.read_bytes()) == kind
    assert detect(WORKBOOK.name, WORKBOOK.read_bytes()[:64]) == "ohss"


def error_for(tmp_path: Path, content: bytes, name: str = "bad.csv") -> IngestError:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(IngestError) as info:
        read(path.name, path.read_bytes())
    return info.value


def test_unknown_format_is_refused(tmp_path: Path) -> None:
    err = error_for(tmp_path, b"a,b,c\n1,2,3\n")
    assert err.line == 1
    assert "unknown format" in str(err)


def test_missing_column_is_named(tmp_path: Path) -> None:
    header = STATE_HEADER.replace(",Title of Authority", "")
    err = error_for(tmp_path, (header + "\n2024,FYTD,JAN,Other,TX,FMUA,CUBA,3\n").encode())
    assert "Title of Authority" in str(err)
    assert err.file == "bad.csv"


@pytest.mark.parametrize("count", ["-3", "2.5", "many"])
def test_count_must_be_a_non_negative_integer(tmp_path: Path, count: str) -> None:
    rows = [
        state_row("2024", "JAN", "Other", "CUBA", 1),
        state_row("2024", "FEB", "Other", "CUBA", count),
    ]
    err = error_for(tmp_path, ("\n".join([STATE_HEADER, *rows]) + "\n").encode())
    assert (err.line, err.column) == (3, "Encounter Count")
    assert "non-negative integer" in str(err)


def test_unknown_month_label_names_line_and_column(tmp_path: Path) -> None:
    rows = [
        state_row("2024", "JAN", "Other", "CUBA", 1),
        state_row("2024", "JANUARY", "Other", "CUBA", 1),
    ]
    err = error_for(tmp_path, ("\n".join([STATE_HEADER, *rows]) + "\n").encode())
    assert (err.line, err.column) == (3, "Month (abbv)")


def test_unknown_citizenship_names_line(tmp_path: Path) -> None:
    rows = [state_row("2024", "JAN", "Other", "ATLANTIS", 1)]
    err = error_for(tmp_path, ("\n".join([STATE_HEADER, *rows]) + "\n").encode())
    assert (err.line, err.column) == (2, "Citizenship")
    assert "ATLANTIS" in str(err)


def test_truncated_file_names_the_short_line(tmp_path: Path) -> None:
    text = CBP_SW.read_bytes()[:5000]
    text = text[: text.rfind(b",")]  # cut off inside the last row
    err = error_for(tmp_path, text)
    assert err.line == text.count(b"\n") + 1
    assert err.column is not None


def test_non_utf8_file_names_the_line(tmp_path: Path) -> None:
    rows = [
        state_row("2024", "JAN", "Other", "CUBA", 1),
        state_row("2024", "JAN", "Other", "CÔTE", 1),
    ]
    content = ("\n".join([STATE_HEADER, *rows]) + "\n").encode("latin-1")
    err = error_for(tmp_path, content)
    assert err.line == 3
    assert "UTF-8" in str(err)


def test_empty_file_is_refused(tmp_path: Path) -> None:
    assert "empty" in str(error_for(tmp_path, b""))
    assert "no data rows" in str(error_for(tmp_path, (STATE_HEADER + "\n").encode()))


def test_workbook_without_the_sheet_is_refused(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    pd.DataFrame({"a": [1]}).to_excel(buffer, sheet_name="Something else", index=False)
    err = error_for(tmp_path, buffer.getvalue(), "book.xlsx")
    assert "Monthly Rgn and Citp" in str(err)


def test_workbook_bad_cell_names_sheet_row_and_column(tmp_path: Path) -> None:
    frame = pd.read_excel(WORKBOOK, sheet_name="Monthly Rgn and Citp", engine="calamine").head(50)
    frame.loc[10, "Month"] = "13 Smarch"
    buffer = io.BytesIO()
    frame.to_excel(buffer, sheet_name="Monthly Rgn and Citp", index=False)
    err = error_for(tmp_path, buffer.getvalue(), "book.xlsx")
    assert (err.sheet, err.line, err.column) == ("Monthly Rgn and Citp", 12, "Month")


def test_truncated_workbook_is_refused(tmp_path: Path) -> None:
    raw = WORKBOOK.read_bytes()
    err = error_for(tmp_path, raw[: len(raw) // 2], "book.xlsx")
    assert "workbook" in str(err)
    assert zipfile.is_zipfile(io.BytesIO(raw))
