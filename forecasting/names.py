"""Citizenship names: every spelling in the sources resolves to one code.

Codes are ISO 3166-1 alpha-2 where one exists, looked up in ``pycountry`` (the
maintained ISO tables), so a new country in a CBP release resolves without a
code change. The sources' own spellings that ISO does not know (``CHINA,
PEOPLES REPUBLIC OF``, ``Korea, South``, ``MYANMAR (BURMA)``) and the buckets
that are no country at all (CBP's ``OTHER``, OHSS's ``Unknown``) are the only
hand-written entries.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

import pycountry

from forecasting.errors import UnknownCitizenship

#: The sum over all citizenships; a code of its own, like OTHER and UNKNOWN.
ALL = "ALL"

#: Codes that are not ISO 3166-1 alpha-2, with their display names.
OWN_CODES: dict[str, str] = {
    ALL: "All citizenships",
    "OTHER": "Other (CBP: citizenships not listed separately)",
    "UNKNOWN": "Unknown",
    "STATELESS": "Stateless",
    "XK": "Kosovo",
    "CS": "Serbia and Montenegro (former)",
    "YU": "Yugoslavia (former)",
    "CSHH": "Czechoslovakia (former)",
    "TIBET": "Tibet",
}

#: Source spellings that ISO's names do not match, keyed by their normal form.
SPELLINGS: dict[str, str] = {
    "burma": "MM",
    "myanmar burma": "MM",
    "china peoples republic of": "CN",
    "china peoples republic": "CN",
    "congo democratic republic": "CD",
    "congo democratic republic of the": "CD",
    "congo republic": "CG",
    "cote divoire": "CI",
    "korea south": "KR",
    "south korea": "KR",
    "korea north": "KP",
    "north korea": "KP",
    "russia": "RU",
    "turkey": "TR",
    "kosovo": "XK",
    "xkx": "XK",
    "serbia and montenegro former": "CS",
    "serbia and montenegro": "CS",
    "scg": "CS",
    "yug": "YU",
    "csk": "CSHH",
    "tib": "TIBET",
    "stl": "STATELESS",
    "other": "OTHER",
    "ooo": "OTHER",
    "unknown": "UNKNOWN",
    "all": ALL,
}

#: Shorter display names where ISO's official-style name is awkward in a chart.
DISPLAY: dict[str, str] = {
    "BO": "Bolivia",
    "IR": "Iran",
    "KP": "North Korea",
    "KR": "South Korea",
    "MD": "Moldova",
    "RU": "Russia",
    "SY": "Syria",
    "TZ": "Tanzania",
    "VE": "Venezuela",
    "VN": "Vietnam",
    "LA": "Laos",
    "CD": "Congo (Democratic Republic)",
    "TR": "Turkey",
}


@dataclass(frozen=True, order=True)
class Citizenship:
    """A resolved citizenship: the code stored and served, and a display name."""

    code: str
    name: str


def _normal(text: str) -> str:
    """Case, accents of apostrophes, punctuation and spacing never decide a match."""
    text = text.casefold().replace("'", "").replace("\u2019", "")
    return " ".join(re.sub(r"[^\w]+", " ", text).split())


def display_name(code: str) -> str:
    """The name shown for a code; unknown codes show as themselves."""
    if code in OWN_CODES:
        return OWN_CODES[code]
    if code in DISPLAY:
        return DISPLAY[code]
    country = pycountry.countries.get(alpha_2=code)
    if country is None:
        return code
    return getattr(country, "common_name", None) or country.name


@lru_cache(maxsize=4096)
def resolve(text: str) -> Citizenship:
    """Resolve a code, name or source spelling, in any case.

    Raises
    ------
    UnknownCitizenship
        When nothing matches; it carries the closest known names as suggestions.
    """
    query = text.strip()
    key = _normal(query)
    if not key:
        raise UnknownCitizenship(text, [])
    code = SPELLINGS.get(key) or (query.upper() if query.upper() in OWN_CODES else None)
    if code is None:
        try:
            code = pycountry.countries.lookup(query).alpha_2
        except LookupError:
            code = _lookup_normalised(key)
    if code is None:
        raise UnknownCitizenship(text, suggest(query))
    return Citizenship(code, display_name(code))


def _lookup_normalised(key: str) -> str | None:
    """Match names that differ from ISO's only in punctuation or case."""
    return _name_index().get(key)


@lru_cache(maxsize=1)
def _name_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for country in pycountry.countries:
        for attr in ("name", "official_name", "common_name"):
            value = getattr(country, attr, None)
            if value:
                index.setdefault(_normal(value), country.alpha_2)
    for code, name in {**DISPLAY, **OWN_CODES}.items():
        index.setdefault(_normal(name), code)
    return index


def suggest(query: str, limit: int = 3) -> list[str]:
    """The closest known names to a query, as ``"Name (CODE)"``, best first."""
    index = _name_index()
    matches = difflib.get_close_matches(_normal(query), list(index), n=limit * 3, cutoff=0.6)
    seen: list[str] = []
    for match in matches:
        code = index[match]
        label = f"{display_name(code)} ({code})"
        if label not in seen:
            seen.append(label)
    return seen[:limit]
