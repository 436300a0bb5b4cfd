"""The OHSS "KHSM Encounters (USBP)" workbook: the long USBP history since FY2000.

Only the ``Monthly Rgn and Citp`` sheet is read: the other sheets are cuts of
the same counts. Quantities are rounded to tens and cells under 5 are left
out, so a month missing for a citizenship is 0 here, not unknown.
"""

from __future__ import annotations

import io

import pandas as pd

from forecasting.errors import IngestError
from forecasting.readers.base import Reading, canonical, check_citizenships, fiscal_to_month

SHEET = "Monthly Rgn and Citp"
YEAR = "Fiscal\nYear"
COLUMNS = (YEAR, "Month", "Region", "Citizenship", "Quantity")
REGIONS = {
    "Southwest Land Border": "southwest",
    "Northern Land Border": "northern",
    "Coastal Border": "other",
}
MONTH_NAMES = (
    "October",
    "November",
    "December",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
)
MONTH_LABELS = {f"{i:02d} {name}": i for i, name in enumerate(MONTH_NAMES, 1)}


def read(file: str, raw: bytes) -> Reading:
    """Validate and canonicalise the workbook; errors name the sheet, row and column."""
    frame = _sheet(file, raw)

    def fail(bad: pd.Series, column: str, message: str) -> IngestError:
        row = int(frame.index[bad.to_numpy()][0]) + 2
        return IngestError(file, message, row, column.replace("\n", " "), sheet=SHEET)

    for column in COLUMNS:
        blank = frame[column].isna() | (frame[column].astype(str).str.strip() == "")
        if blank.any():
            raise fail(blank, column, "empty cell")
    years = pd.to_numeric(frame[YEAR], errors="coerce")
    bad = years.isna() | (years % 1 != 0) | (years < 1900)
    if bad.any():
        raise fail(bad, YEAR, f"{frame.loc[bad, YEAR].iloc[0]!r} is not a fiscal year")
    month = frame["Month"].astype(str).str.strip().map(MONTH_LABELS)
    if month.isna().any():
        label = frame.loc[month.isna(), "Month"].iloc[0]
        raise fail(
            month.isna(), "Month", f"unknown month label {label!r}; expected e.g. '01 October'"
        )
    region = frame["Region"].astype(str).str.strip().map(REGIONS)
    if region.isna().any():
        value = frame.loc[region.isna(), "Region"].iloc[0]
        raise fail(
            region.isna(), "Region", f"unknown region {value!r}; allowed: {', '.join(REGIONS)}"
        )
    quantity = pd.to_numeric(frame["Quantity"], errors="coerce")
    bad = quantity.isna() | (quantity < 0) | (quantity % 1 != 0)
    if bad.any():
        value = frame.loc[bad, "Quantity"].iloc[0]
        raise fail(bad, "Quantity", f"{value!r} is not a non-negative integer count")
    try:
        citizenship = check_citizenships(file, frame.astype({"Citizenship": str}), "Citizenship")
    except IngestError as exc:
        raise IngestError(file, exc.message, exc.line, "Citizenship", sheet=SHEET) from None
    rows = pd.DataFrame(
        {
            "month": fiscal_to_month(years.astype("int64"), month.astype("int64")),
            "citizenship": citizenship,
            "region": region,
            "component": "usbp",
            "demographic": "",
            "title": "",
            "count": quantity.astype("int64"),
        }
    )
    return canonical("ohss", file, rows)


def _sheet(file: str, raw: bytes) -> pd.DataFrame:
    """The one sheet that matters, with its header checked."""
    try:
        book = pd.ExcelFile(io.BytesIO(raw), engine="calamine")
    except Exception as exc:  # calamine raises its own error types for broken zips
        raise IngestError(file, f"not a readable .xlsx workbook ({exc})") from None
    if SHEET not in book.sheet_names:
        raise IngestError(
            file, f"no sheet {SHEET!r}; the workbook has: {', '.join(book.sheet_names)}"
        )
    try:
        frame = book.parse(SHEET)
    except Exception as exc:
        raise IngestError(file, f"sheet cannot be read ({exc})", sheet=SHEET) from None
    missing = [c for c in COLUMNS if c not in frame.columns]
    if missing:
        names = ", ".join(repr(c.replace("\n", " ")) for c in missing)
        raise IngestError(file, f"missing column(s) {names}", 1, sheet=SHEET)
    if frame.empty:
        raise IngestError(file, "the sheet has a header but no data rows", 2, sheet=SHEET)
    return frame
