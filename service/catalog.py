"""Which series exist, and which one a request means when it leaves region or component out.

``Store.series()`` scans the whole observation table (about half a second on
the bundled data), so the catalog keeps its answer until the store changes.
The defaults follow one fixed order so that the same request always names
the same series: region ``all``, ``southwest``, ``northern``, ``other``;
component ``all``, ``usbp``, ``ofo``. OHSS reports Border Patrol only, so on
OHSS-only data a request for China without a component gets ``usbp``, and the
answer says so.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from forecasting.errors import UnknownSeries
from forecasting.names import Citizenship, display_name
from forecasting.store import SeriesInfo, Store, series_id

REGIONS: tuple[str, ...] = ("all", "southwest", "northern", "other")
COMPONENTS: tuple[str, ...] = ("all", "usbp", "ofo")


@dataclass(frozen=True)
class SeriesRef:
    """A resolved series, and which of its parts were chosen by default (and why)."""

    code: str
    name: str
    region: str
    component: str
    defaulted: tuple[str, ...] = ()
    note: str | None = None

    @property
    def unique_id(self) -> str:
        return series_id(self.code, self.region, self.component)


@dataclass
class Catalog:
    """The store's series list, read once and again by :meth:`reload` when the store changes.

    Lookups read a snapshot that :meth:`reload` swaps whole, so a request never
    waits on the half-second scan except the very first one of the process.
    """

    store: Store
    _series: list[SeriesInfo] = field(default_factory=list)
    _by_code: dict[str, dict[tuple[str, str], SeriesInfo]] = field(default_factory=dict)
    _loaded: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reload(self) -> None:
        """Read the series list again (blocking, about half a second on the bundled data)."""
        with self._lock:
            series = self.store.series()
            by_code: dict[str, dict[tuple[str, str], SeriesInfo]] = {}
            for s in series:
                by_code.setdefault(s.code, {})[(s.region, s.component)] = s
            self._series, self._by_code = series, by_code
            self._loaded = True

    def _refresh(self) -> None:
        if not self._loaded:
            self.reload()

    @property
    def fresh(self) -> bool:
        """Whether a lookup can be answered without touching the store."""
        return self._loaded

    def series(self) -> list[SeriesInfo]:
        """Every series with data (blocking on a refresh)."""
        self._refresh()
        return list(self._series)

    def citizenships(self) -> list[tuple[str, str]]:
        """``(code, name)`` of every citizenship with data, by name; ``ALL`` first."""
        self._refresh()
        codes = sorted(self._by_code, key=lambda c: (c != "ALL", display_name(c).casefold()))
        return [(c, display_name(c)) for c in codes]

    def parts(self, code: str) -> list[tuple[str, str]]:
        """The ``(region, component)`` pairs a citizenship has data for, in default order."""
        self._refresh()
        have = self._by_code.get(code, {})
        return [(r, c) for r in REGIONS for c in COMPONENTS if (r, c) in have]

    def info(self, ref: SeriesRef) -> SeriesInfo:
        self._refresh()
        return self._by_code[ref.code][(ref.region, ref.component)]

    def choose(
        self, citizenship: Citizenship, region: str | None, component: str | None
    ) -> SeriesRef:
        """The series a request means; the first existing one in the fixed default order.

        Raises
        ------
        UnknownSeries
            When the citizenship has no data at all, or none for the region
            and component asked for; the message lists what there is.
        """
        code, name = citizenship.code, citizenship.name
        available = self.parts(code)
        if not available:
            raise UnknownSeries(code, f"no data for {name} ({code}) in the store")
        wanted = [
            (r, c)
            for r in ((region,) if region else REGIONS)
            for c in ((component,) if component else COMPONENTS)
        ]
        chosen = next((p for p in wanted if p in available), None)
        if chosen is None:
            asked = series_id(code, region or "*", component or "*")
            there = ", ".join(f"region={r} component={c}" for r, c in available)
            raise UnknownSeries(asked, f"no data for {asked}; {name} has: {there}")
        defaulted = tuple(
            p for p, given in (("region", region), ("component", component)) if not given
        )
        note = None
        odd = [
            f"{p}={v} ('all' has no data for {code})"
            for p, v in zip(("region", "component"), chosen, strict=True)
            if p in defaulted and v != "all"
        ]
        if odd:
            note = "defaulted to " + "; ".join(odd)
        return SeriesRef(code, name, chosen[0], chosen[1], defaulted, note)
