"""What every reader returns, and the checks every CSV source shares.

A reader turns one file into a :class:`Reading`: canonical counts
``(month, citizenship, region, component) -> count`` and, where the source
has it, demographic detail. It validates everything before returning, so the
store is only ever handed a file that is wholly good; the first bad cell
raises :class:`~forecasting.errors.IngestError` naming file, line and column.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import pandas as pd

from forecasting.errors import IngestError, UnknownCitizenship
from forecasting.names import ALL, resolve

KEY = ["month", "citizenship", "region", "component"]
DETAIL_KEY = [*KEY, "demographic", "title"]
REGIONS = ("southwest", "northern", "other")
COMPONENTS = ("usbp", "ofo")
#: Region or component value of a sum over all of them.
TOTAL = "all"

FISCAL_MONTHS = ("OCT", "NOV", "DEC", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP")


@dataclass(frozen=True)
class Reading:
    """One validated source file in canonical form.

    ``counts`` is dense over the file's coverage: every citizenship the file
    names, in every region and component it covers, for every month from its
    first to its last, with 0 where the file has no row (both OHSS and CBP
    leave out empty cells). It also holds the file's own sums over regions,
    components and citizenships, so that a sum never mixes two releases.
    """

    source: str
    file: str
    rows: int
    counts: pd.DataFrame
    details: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=DETAIL_KEY))

    @property
    def first_month(self) -> pd.Timestamp:
        return self.counts["month"].min()

    @property
    def last_month(self) -> pd.Timestamp:
        return self.counts["month"].max()


def decode(file: str, raw: bytes) -> str:
    """UTF-8 text of a file, or an error naming the line of the first bad byte."""
    if not raw.strip():
        raise IngestError(file, "the file is empty")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise IngestError(
            file, f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start})", line
        ) from None


def read_csv(file: str, text: str, columns: list[str]) -> pd.DataFrame:
    """All cells as strings, with every required column present and filled.

    A short row (a file cut off mid-line) or a long one is an error on its line;
    so is a missing column, named in the message.
    """
    header = [h.strip() for h in text.split("\n", 1)[0].split(",")]
    missing = [c for c in columns if c not in header]
    if missing:
        raise IngestError(file, f"missing column(s) {', '.join(map(repr, missing))}", 1)
    try:
        frame = pd.read_csv(
            io.StringIO(text), dtype=str, keep_default_na=False, na_values=[], skipinitialspace=True
        )
    except pd.errors.ParserError as exc:
        raise IngestError(file, f"malformed CSV: {exc}", _parser_line(str(exc))) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise IngestError(file, "the file has a header but no data rows", 2)
    for column in columns:
        blank = frame[column].isna() | (frame[column].str.strip() == "")
        if blank.any():
            raise IngestError(
                file, "empty value (is the file truncated?)", line_of(frame, blank), column
            )
    return frame


def _parser_line(message: str) -> int | None:
    import re

    match = re.search(r"line (\d+)", message)
    return int(match.group(1)) if match else None


def line_of(frame: pd.DataFrame, bad: pd.Series) -> int:
    """The file line of the first flagged row (line 1 is the header)."""
    return int(frame.index[bad.to_numpy()][0]) + 2


def check_in(file: str, frame: pd.DataFrame, column: str, allowed: dict[str, str]) -> pd.Series:
    """Map a column through ``allowed``; an unknown value is an error on its line."""
    mapped = frame[column].str.strip().map(allowed)
    bad = mapped.isna()
    if bad.any():
        value = frame.loc[bad, column].iloc[0]
        raise IngestError(
            file,
            f"unknown value {value!r}; allowed: {', '.join(sorted(allowed))}",
            line_of(frame, bad),
            column,
        )
    return mapped


def check_counts(file: str, frame: pd.DataFrame, column: str) -> pd.Series:
    """Counts must be non-negative integers, written as digits."""
    text = frame[column].str.strip().str.replace(",", "", regex=False)
    bad = ~text.str.fullmatch(r"\d+")
    if bad.any():
        value = frame.loc[bad, column].iloc[0]
        raise IngestError(
            file, f"{value!r} is not a non-negative integer count", line_of(frame, bad), column
        )
    return text.astype("int64")


def check_citizenships(file: str, frame: pd.DataFrame, column: str) -> pd.Series:
    """Resolve each distinct spelling once; an unknown one is an error on its line."""
    codes: dict[str, str] = {}
    for value in frame[column].unique():
        try:
            codes[value] = resolve(value).code
        except UnknownCitizenship as exc:
            raise IngestError(
                file, str(exc), line_of(frame, frame[column] == value), column
            ) from None
    return frame[column].map(codes)


def fiscal_to_month(fiscal_year: pd.Series, fiscal_month: pd.Series) -> pd.Series:
    """Calendar month start from fiscal year and fiscal month 1-12 (1 = October)."""
    year = fiscal_year - (fiscal_month <= 3).astype("int64")
    month = (fiscal_month + 8) % 12 + 1
    return pd.to_datetime(pd.DataFrame({"year": year, "month": month, "day": 1}))


def canonical(source: str, file: str, frame: pd.DataFrame) -> Reading:
    """Aggregate validated rows into dense canonical counts plus the file's own sums.

    ``frame`` has the columns of ``DETAIL_KEY`` and ``count``; ``demographic``
    and ``title`` are empty strings where the source has no such column.
    """
    base = frame.groupby(KEY, as_index=False)["count"].sum()
    dense = _densify(base).assign(derived=False)
    sums = _sums(dense).assign(derived=True)
    counts = pd.concat([dense, sums], ignore_index=True)
    counts["count"] = counts["count"].astype("int64")
    details = frame[frame["demographic"].ne("") | frame["title"].ne("")]
    details = details.groupby(DETAIL_KEY, as_index=False)["count"].sum()
    return Reading(source=source, file=file, rows=len(frame), counts=counts, details=details)


def _densify(base: pd.DataFrame) -> pd.DataFrame:
    """Fill the file's coverage grid with explicit zeros where it has no row."""
    months = pd.date_range(base["month"].min(), base["month"].max(), freq="MS")
    grid = pd.MultiIndex.from_product(
        [months, *(sorted(base[c].unique()) for c in KEY[1:])], names=KEY
    )
    return base.set_index(KEY)["count"].reindex(grid, fill_value=0).reset_index()


def _sums(dense: pd.DataFrame) -> pd.DataFrame:
    """Sums over every dimension the file covers in full.

    A file that reports one component only (OHSS: USBP) gives no sum over
    components, because the other part is unknown; one that reports only the
    southwest gives no sum over regions. The component ``all`` that the CBP
    state format reports directly is not summed again.
    """
    parts = []
    can_sum = {
        "region": set(dense["region"]) >= set(REGIONS),
        "component": set(dense["component"]) >= set(COMPONENTS),
        "citizenship": True,
    }
    dims = [d for d, ok in can_sum.items() if ok]
    for mask in range(1, 2 ** len(dims)):
        summed = [d for i, d in enumerate(dims) if mask >> i & 1]
        keep = [k for k in KEY if k not in summed]
        part = dense.groupby(keep, as_index=False)["count"].sum()
        for d in summed:
            part[d] = ALL if d == "citizenship" else TOTAL
        parts.append(part[[*KEY, "count"]])
    return pd.concat(parts, ignore_index=True)
