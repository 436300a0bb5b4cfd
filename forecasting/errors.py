"""The errors Bordercast raises, in one tree.

::

    BordercastError
    ├── IngestError(file, line, column, message)      also ValueError
    ├── UnknownCitizenship(query, suggestions)        also LookupError
    ├── UnknownSeries(series)                         also LookupError
    ├── ConfigError(message)                          also ValueError
    ├── ModelError(message)
    │   ├── NotFitted
    │   ├── NoModel(series)                           no trained model yet
    │   └── ArtifactTampered(path, expected, actual)
    └── DeliveryError(reason, retryable)

Input errors subclass ``ValueError`` or ``LookupError`` as well, so callers
that only know the standard library still catch them. The CLI and the API
each turn these into an exit code or an HTTP status in one place.
"""

from __future__ import annotations


class BordercastError(Exception):
    """Root of every error Bordercast raises on purpose."""


class IngestError(BordercastError, ValueError):
    """A source file failed validation; nothing was written.

    ``line`` is 1-based and counts the header line of a CSV; for a workbook
    it is the sheet row (header = row 1) and ``sheet`` names the sheet.
    """

    def __init__(
        self,
        file: str,
        message: str,
        line: int | None = None,
        column: str | None = None,
        sheet: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.column = column
        self.sheet = sheet
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = [self.file]
        if self.sheet is not None:
            where.append(f"sheet {self.sheet!r}")
        if self.line is not None:
            where.append(f"row {self.line}" if self.sheet is not None else f"line {self.line}")
        if self.column is not None:
            where.append(f"column {self.column!r}")
        return f"{', '.join(where)}: {self.message}"


class UnknownCitizenship(BordercastError, LookupError):
    """A citizenship name or code matched nothing; ``suggestions`` are the closest."""

    def __init__(self, query: str, suggestions: list[str]) -> None:
        self.query = query
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown citizenship {query!r}{hint}")


class UnknownSeries(BordercastError, LookupError):
    """The store holds no observation for the requested series."""

    def __init__(self, series: str, message: str | None = None) -> None:
        self.series = series
        super().__init__(message or f"no data for series {series}")


class ConfigError(BordercastError, ValueError):
    """A setting or a configuration file (such as the policy calendar) is invalid."""


class ModelError(BordercastError):
    """A model could not be fitted, loaded or used."""


class NotFitted(ModelError):
    """``predict`` was called before ``fit``."""


class NoModel(ModelError):
    """No model has been trained for the series yet (the API answers 503)."""

    def __init__(self, series: str) -> None:
        self.series = series
        super().__init__(f"no trained model for {series} yet; run `bordercast train`")


class ArtifactTampered(ModelError):
    """A saved model's sha256 differs from the registry's; it is never loaded."""

    def __init__(self, path: str, expected: str, actual: str) -> None:
        self.path = path
        self.expected = expected
        self.actual = actual
        super().__init__(f"{path}: sha256 {actual} does not match the registry's {expected}")


class DeliveryError(BordercastError):
    """A notification could not be delivered; ``retryable`` says whether to try again."""

    def __init__(self, reason: str, retryable: bool) -> None:
        self.reason = reason
        self.retryable = retryable
        super().__init__(reason)
