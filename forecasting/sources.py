"""Where the monthly releases are: source patterns turned into this month's paths and URLs."""

from __future__ import annotations

import datetime as dt
import glob

from forecasting.ingest import is_url

#: The CBP nationwide release by state, as published since late 2024 (e.g.
#: ``.../files/2024-10/nationwide-encounters-fy21-fy24-state.csv``); the
#: placeholders are filled by :func:`expand_sources`. CBP names a September
#: (fiscal year end) file without the month, and has moved its files before:
#: the deployment takes any list of patterns and paths.
CBP_NATIONWIDE_STATE = (
    "https://www.cbp.gov/sites/default/files/{published}/"
    "nationwide-encounters-fy{fy_first}-fy{fy}-{month}-state.csv"
)


def expand_sources(sources: list[str], release_date: dt.date) -> list[str]:
    """Turn the deployment's source patterns into the paths and URLs to fetch this month.

    A URL may hold placeholders for the release published in the month of
    ``release_date``, which covers the month before it: ``{published}``
    (``2025-12``), ``{month}`` (``nov``), ``{fy}`` (fiscal year of the covered
    month, two digits: ``26``), ``{fy_first}`` (``fy`` - 3: CBP files repeat
    four fiscal years), ``{year}`` and ``{mm}`` (the covered month). A local
    path may be a glob (``/srv/cbp/*.csv``), expanded in sorted order; a glob
    that matches nothing adds nothing. Anything else passes through unchanged.
    """
    covered = (release_date.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    fiscal_year = covered.year + (1 if covered.month >= 10 else 0)
    fields = {
        "published": release_date.strftime("%Y-%m"),
        "month": covered.strftime("%b").lower(),
        "fy": f"{fiscal_year % 100:02d}",
        "fy_first": f"{(fiscal_year - 3) % 100:02d}",
        "year": f"{covered.year}",
        "mm": f"{covered.month:02d}",
    }
    out: list[str] = []
    for source in sources:
        if is_url(source):
            out.append(source.format(**fields))
        elif glob.has_magic(source):
            out.extend(sorted(glob.glob(source)))
        else:
            out.append(source)
    return out
