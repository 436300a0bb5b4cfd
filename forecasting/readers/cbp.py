"""CBP's monthly encounter releases: nationwide by AOR, nationwide by state, southwest.

The three formats share their month, citizenship, title and count columns and
differ in whether they report components (the state file sums USBP and OFO)
and regions (the southwest file covers one). Rows repeat a key once per
demographic, title, AOR or state and are summed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from forecasting.errors import IngestError
from forecasting.readers.base import (
    FISCAL_MONTHS,
    TOTAL,
    Reading,
    canonical,
    check_citizenships,
    check_counts,
    check_in,
    fiscal_to_month,
    line_of,
    read_csv,
)

COMPONENTS = {"U.S. Border Patrol": "usbp", "Office of Field Operations": "ofo"}
REGIONS = {
    "Southwest Land Border": "southwest",
    "Northern Land Border": "northern",
    "Other": "other",
}
DEMOGRAPHICS = {
    "Accompanied Minors": "accompanied_minors",
    "FMUA": "fmua",
    "Single Adults": "single_adults",
    "UC / Single Minors": "uc",
    "UAC": "uc",
}
TITLES = {"Title 8": "title8", "Title 42": "title42"}


@dataclass(frozen=True)
class Format:
    """One CBP release format: its name, its header, and where its citizenship is."""

    name: str
    columns: tuple[str, ...]
    citizenship: str = "Citizenship"

    def matches(self, header: list[str]) -> bool:
        return set(self.columns) <= set(header)


_COMMON = ("Fiscal Year", "Month Grouping", "Month (abbv)")
AOR = Format(
    "cbp-aor",
    (
        *_COMMON,
        "Component",
        "Land Border Region",
        "Area of Responsibility",
        "AOR (Abbv)",
        "Demographic",
        "Citizenship",
        "Title of Authority",
        "Encounter Type",
        "Encounter Count",
    ),
)
STATE = Format(
    "cbp-state",
    (
        *_COMMON,
        "Land Border Region",
        "State",
        "Demographic",
        "Citizenship",
        "Title of Authority",
        "Encounter Count",
    ),
)
SOUTHWEST = Format(
    "cbp-sw",
    (
        *_COMMON,
        "Component",
        "Demographic",
        "Citizenship Grouping",
        "Title of Authority",
        "Encounter Type",
        "Encounter Count",
    ),
    citizenship="Citizenship Grouping",
)
FORMATS = (AOR, STATE, SOUTHWEST)


def read(file: str, text: str, fmt: Format) -> Reading:
    """Validate and canonicalise one CBP release of a known format."""
    frame = read_csv(file, text, list(fmt.columns))
    rows = pd.DataFrame(
        {
            "month": _months(file, frame),
            "citizenship": check_citizenships(file, frame, fmt.citizenship),
            "region": (
                check_in(file, frame, "Land Border Region", REGIONS)
                if "Land Border Region" in fmt.columns
                else "southwest"
            ),
            "component": (
                check_in(file, frame, "Component", COMPONENTS)
                if "Component" in fmt.columns
                else TOTAL
            ),
            "demographic": check_in(file, frame, "Demographic", DEMOGRAPHICS),
            "title": check_in(file, frame, "Title of Authority", TITLES),
            "count": check_counts(file, frame, "Encounter Count"),
        }
    )
    return canonical(fmt.name, file, rows)


def _months(file: str, frame: pd.DataFrame) -> pd.Series:
    """Calendar months from ``Fiscal Year`` (``2025`` or ``2025 (FYTD)``) and ``Month (abbv)``."""
    year_text = frame["Fiscal Year"].str.strip()
    bad = ~year_text.str.fullmatch(r"\d{4}( \(FYTD\))?")
    if bad.any():
        raise IngestError(
            file,
            f"{frame.loc[bad, 'Fiscal Year'].iloc[0]!r} is not a fiscal year such as 2024 "
            "or 2025 (FYTD)",
            line_of(frame, bad),
            "Fiscal Year",
        )
    fiscal_month = check_in(
        file, frame, "Month (abbv)", {m: str(i) for i, m in enumerate(FISCAL_MONTHS, 1)}
    ).astype("int64")
    return fiscal_to_month(year_text.str[:4].astype("int64"), fiscal_month)
