"""Source readers: one module per format, chosen from the file's first bytes and header.

``read(name, raw)`` is the only entry point the store and the CLI need.
"""

from __future__ import annotations

from forecasting.errors import IngestError
from forecasting.readers import cbp, ohss, transit
from forecasting.readers.base import Reading, decode
from forecasting.readers.transit import TransitReading

__all__ = ["Reading", "TransitReading", "detect", "read"]

_ZIP_MAGIC = b"PK\x03\x04"


def detect(name: str, raw: bytes) -> str:
    """The format's name, from the bytes: a zip is the workbook, a CSV goes by its header."""
    if raw.startswith(_ZIP_MAGIC):
        return "ohss"
    header = [h.strip() for h in decode(name, raw).split("\n", 1)[0].strip().split(",")]
    for fmt in cbp.FORMATS:
        if fmt.matches(header):
            return fmt.name
    # -- transit indicators (issue 11) --
    found = transit.detect(header)
    if found is not None:
        return found.name
    formats: tuple[cbp.Format | transit.TransitFormat, ...] = (*cbp.FORMATS, *transit.FORMATS)
    best = max(
        formats,
        key=lambda f: (len(set(f.columns) & set(header)), -len(f.columns)),
    )
    # -- end transit indicators --
    missing = [c for c in best.columns if c not in header]
    if len(missing) <= len(best.columns) // 3:
        raise IngestError(
            name, f"missing column(s) {', '.join(map(repr, missing))} for format {best.name}", 1
        )
    raise IngestError(
        name,
        "unknown format: the header matches none of the OHSS workbook, CBP nationwide AOR, "
        "CBP nationwide state, CBP southwest or transit (t,q,nat,n; t,nat,n; t,geo,nat,n) "
        f"formats (header: {','.join(header)[:200]})",
        1,
    )


def read(name: str, raw: bytes) -> Reading | TransitReading:
    """Validate and canonicalise one file of any supported format.

    Encounter files give a :class:`Reading`; the transit files of
    ``data/transit/`` give a :class:`TransitReading`, which the indicator
    store takes instead (:func:`forecasting.indicators.ingest`).

    Raises
    ------
    IngestError
        On the first problem, naming the file, line (or sheet and row) and column.
    """
    kind = detect(name, raw)
    if kind == "ohss":
        return ohss.read(name, raw)
    transit_fmt = next((f for f in transit.FORMATS if f.name == kind), None)
    if transit_fmt is not None:
        return transit.read(name, decode(name, raw), transit_fmt)
    fmt = next(f for f in cbp.FORMATS if f.name == kind)
    return cbp.read(name, decode(name, raw), fmt)
