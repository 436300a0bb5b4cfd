"""Transit indicators: counts by nationality from governments along the route north.

Three CSV files compiled by IOM's data institute (``data/transit/``), each
told apart by its header:

=====================  ===============  =====================================
header                 batch source     indicator series (``indicator``)
=====================  ===============  =====================================
``t,q,nat,n``          panama-darien    ``panama-darien`` (counted in PAN)
``t,nat,n``            mexico-irregular ``mexico-irregular`` (counted in MEX)
``t,geo,nat,n``        regular-entries  ``entries-<GEO>``, one per country
=====================  ===============  =====================================

Regular entries become one indicator per receiving country (``entries-ECU``,
``entries-COL``, ...) rather than one indicator with a ``geo`` key, so that an
indicator series is always ``(indicator, citizenship) -> count`` by month and
its ``unique_id`` (``entries-ECU:CN``) needs no third part. The receiving
country is kept beside it as ``geo``.

``nat`` holds ISO 3166-1 alpha-3 codes (and the compiler's ``OOO``, ``STL``,
``XKX``); they resolve through :func:`forecasting.names.resolve` to the same
citizenship codes as the encounter series, so ``CHN`` joins ``CN``. Where the
source folds two of its categories into one code (Mexico lists Guinea twice,
France twice, in some months) the rows are summed, as CBP's repeated keys are.

The Darién file's 2010-2019 rows are annual totals written in the January row
of each year (``q`` says ``2010 Q1``). They are kept with ``period = "year"``:
read as January counts they would invent a spike every January and eleven
empty months after it.

Absent rows are zeros only within what a file covers: every nationality the
file names for an indicator, in every month that indicator has rows for. A
month with no row at all (the Darién file has none for 2020-04, 2020-05 and
2020-07) stays unknown, never zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import pycountry

from forecasting.errors import IngestError
from forecasting.readers.base import check_citizenships, check_counts, line_of, read_csv

#: Columns of the canonical indicator values a reader returns.
VALUE_COLUMNS = ["indicator", "geo", "citizenship", "period", "month", "count"]
#: The key of one indicator value.
VALUE_KEY = ["indicator", "citizenship", "period", "month"]
#: ``period`` of a monthly count, and of an annual total (``month`` = January).
MONTH, YEAR = "month", "year"
#: Darién rows before this year are annual totals (see the data README).
DARIEN_MONTHLY_FROM = 2020


@dataclass(frozen=True)
class TransitFormat:
    """One transit file format: the batch source it becomes and its exact header."""

    name: str
    columns: tuple[str, ...]
    #: Country where the counts are taken; ``None`` when the file has a ``geo`` column.
    geo: str | None

    def matches(self, header: list[str]) -> bool:
        return set(self.columns) <= set(header)


DARIEN = TransitFormat("panama-darien", ("t", "q", "nat", "n"), "PAN")
MEXICO = TransitFormat("mexico-irregular", ("t", "nat", "n"), "MEX")
ENTRIES = TransitFormat("regular-entries", ("t", "geo", "nat", "n"), None)
FORMATS = (DARIEN, ENTRIES, MEXICO)


@dataclass(frozen=True)
class TransitReading:
    """One validated transit file: indicator values in the shape of ``VALUE_COLUMNS``.

    ``values`` is dense within the file's coverage (see the module docstring)
    and holds each key once. ``source`` is the batch source; the indicator
    names are in ``values["indicator"]``.
    """

    source: str
    file: str
    rows: int
    values: pd.DataFrame

    @property
    def first_month(self) -> pd.Timestamp:
        """The earliest period the file covers, annual totals included."""
        return self.values["month"].min()

    @property
    def last_month(self) -> pd.Timestamp:
        """The newest monthly count: the release's vintage, as for encounter batches."""
        monthly = self.values.loc[self.values["period"] == MONTH, "month"]
        return monthly.max() if len(monthly) else self.values["month"].max()

    @property
    def series(self) -> int:
        return int(self.values.groupby(["indicator", "citizenship"]).ngroups)


def detect(header: list[str]) -> TransitFormat | None:
    """The transit format whose columns the header holds; the most specific wins.

    ``t,nat,n`` is part of the other two headers, so a file is the format with
    the most columns present; extra columns are refused later by :func:`read`.
    """
    candidates = [f for f in FORMATS if f.matches(header)]
    return max(candidates, key=lambda f: len(f.columns)) if candidates else None


def read(file: str, text: str, fmt: TransitFormat) -> TransitReading:
    """Validate and canonicalise one transit file of a known format.

    Raises
    ------
    IngestError
        On the first problem: an unexpected column, an empty cell, a month
        ``t`` that is not ``YYYY-MM``, a ``q`` that does not match ``t``, an
        unknown ``geo`` or ``nat`` code, or a count that is not a
        non-negative integer; naming file, line and column.
    """
    frame = read_csv(file, text, list(fmt.columns))
    extra = [c for c in frame.columns if c not in fmt.columns]
    if extra:
        raise IngestError(
            file,
            f"unexpected column {extra[0]!r}; the {fmt.name} format has exactly "
            f"{','.join(fmt.columns)}",
            1,
            extra[0],
        )
    month = _months(file, frame)
    period = pd.Series(MONTH, index=frame.index)
    if fmt is DARIEN:
        _check_quarters(file, frame, month)
        annual = month.dt.year < DARIEN_MONTHLY_FROM
        bad = annual & (month.dt.month != 1)
        if bad.any():
            raise IngestError(
                file,
                f"{frame.loc[bad, 't'].iloc[0]!r}: rows before {DARIEN_MONTHLY_FROM} are annual "
                "totals and must be in January",
                line_of(frame, bad),
                "t",
            )
        period = period.mask(annual, YEAR)
    geo = _geos(file, frame) if fmt.geo is None else pd.Series(fmt.geo, index=frame.index)
    rows = pd.DataFrame(
        {
            "indicator": ("entries-" + geo) if fmt.geo is None else fmt.name,
            "geo": geo,
            "citizenship": check_citizenships(file, frame, "nat"),
            "period": period,
            "month": month,
            "count": check_counts(file, frame, "n"),
        }
    )
    values = rows.groupby([*VALUE_KEY, "geo"], as_index=False)["count"].sum()
    return TransitReading(fmt.name, file, len(frame), _densify(values)[VALUE_COLUMNS])


def _months(file: str, frame: pd.DataFrame) -> pd.Series:
    """Month starts from ``t`` (``2024-07``); anything else is an error on its line."""
    text = frame["t"].str.strip()
    bad = ~text.str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])")
    if bad.any():
        raise IngestError(
            file,
            f"{frame.loc[bad, 't'].iloc[0]!r} is not a month such as 2024-07 (YYYY-MM)",
            line_of(frame, bad),
            "t",
        )
    return pd.to_datetime(text, format="%Y-%m")


def _check_quarters(file: str, frame: pd.DataFrame, month: pd.Series) -> None:
    """``q`` must name the quarter of ``t`` (``2023 Q3`` for ``2023-08``).

    The column carries nothing ``t`` does not; a mismatch means a shifted or
    hand-edited row, which would silently move counts between months.
    """
    expected = month.dt.year.astype(str) + " Q" + month.dt.quarter.astype(str)
    bad = frame["q"].str.strip() != expected
    if bad.any():
        i = bad.to_numpy().argmax()
        raise IngestError(
            file,
            f"{frame['q'].iloc[i]!r} is not the quarter of {frame['t'].iloc[i]!r} "
            f"(expected {expected.iloc[i]!r})",
            line_of(frame, bad),
            "q",
        )


def _geos(file: str, frame: pd.DataFrame) -> pd.Series:
    """Receiving countries as upper-case ISO alpha-3 codes; unknown codes are errors."""
    codes = frame["geo"].str.strip().str.upper()
    for value in codes.unique():
        if pycountry.countries.get(alpha_3=value) is None:
            raise IngestError(
                file,
                f"unknown country {value!r}; geo must be an ISO 3166-1 alpha-3 code such as ECU",
                line_of(frame, codes == value),
                "geo",
            )
    return codes


def _densify(values: pd.DataFrame) -> pd.DataFrame:
    """Zeros for the nationalities an indicator names but leaves out in a month it reports.

    The grid is per indicator and period: its own months times its own
    nationalities, so that a country reporting fewer months (entries into
    Bolivia: four) gains no invented zeros elsewhere.
    """
    parts = []
    for (indicator, period, geo), part in values.groupby(["indicator", "period", "geo"], sort=True):
        grid = pd.MultiIndex.from_product(
            [sorted(part["citizenship"].unique()), sorted(part["month"].unique())],
            names=["citizenship", "month"],
        )
        dense = (
            part.set_index(["citizenship", "month"])["count"]
            .reindex(grid, fill_value=0)
            .reset_index()
            .assign(indicator=indicator, period=period, geo=geo)
        )
        parts.append(dense)
    out = pd.concat(parts, ignore_index=True)
    out["count"] = out["count"].astype("int64")
    return out
