"""Source readers: one module per format, chosen from the file's first bytes and header.

``read(name, raw)`` is the only entry point the store and the CLI need.
"""

from __future__ import annotations

from forecasting.errors import IngestError
from forecasting.readers import cbp, ohss
from forecasting.readers.base import Reading, decode

__all__ = ["Reading", "detect", "read"]

_ZIP_MAGIC = b"PK\x03\x04"


def detect(name: str, raw: bytes) -> str:
    """The format's name, from the bytes: a zip is the workbook, a CSV goes by its header."""
    if raw.startswith(_ZIP_MAGIC):
        return "ohss"
    header = [h.strip() for h in decode(name, raw).split("\n", 1)[0].strip().split(",")]
    for fmt in cbp.FORMATS:
        if fmt.matches(header):
            return fmt.name
    best = max(cbp.FORMATS, key=lambda f: len(set(f.columns) & set(header)))
    missing = [c for c in best.columns if c not in header]
    if len(missing) <= len(best.columns) // 3:
        raise IngestError(
            name, f"missing column(s) {', '.join(map(repr, missing))} for format {best.name}", 1
        )
    raise IngestError(
        name,
        "unknown format: the header matches none of the OHSS workbook, CBP nationwide AOR, "
        f"CBP nationwide state or CBP southwest formats (header: {','.join(header)[:200]})",
        1,
    )


def read(name: str, raw: bytes) -> Reading:
    """Validate and canonicalise one file of any supported format.

    Raises
    ------
    IngestError
        On the first problem, naming the file, line (or sheet and row) and column.
    """
    kind = detect(name, raw)
    if kind == "ohss":
        return ohss.read(name, raw)
    fmt = next(f for f in cbp.FORMATS if f.name == kind)
    return cbp.read(name, decode(name, raw), fmt)
