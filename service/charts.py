"""Charts of one series: history, forecast with its interval, policy events and alerts.

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no display,
no global current figure), under one lock: matplotlib's text and font caches
are shared state, and two cores gain nothing from drawing two charts at once.
The answers are cached by the routes, so a chart is drawn once per series and
parameters until the data or the model changes.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

_LOCK = threading.Lock()

HISTORY = "#1f4e79"
FORECAST = "#c0504d"
SURGE = "#d62728"
DROP = "#2ca02c"
EVENT = "#7f7f7f"


@dataclass
class ChartData:
    """Everything one chart shows; ``forecast`` is None when no model exists (``note`` says why)."""

    title: str
    history: pd.DataFrame
    forecast: dict[str, Any] | None = None
    events: list[Any] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    note: str | None = None


def _month(value: Any) -> pd.Timestamp:
    return pd.Timestamp(value).to_period("M").to_timestamp()


def _events_in(events: Iterable[Any], start: pd.Timestamp, end: pd.Timestamp) -> list[Any]:
    return [e for e in events if start <= pd.Timestamp(e.date) <= end]


def render(data: ChartData, fmt: Literal["svg", "png"], years: int = 8) -> bytes:
    """The chart as SVG or PNG bytes.

    Parameters
    ----------
    data
        What to draw; ``history`` is ``ds, y`` as the store returns it.
    fmt
        ``svg`` for the page (sharp at any size), ``png`` for e-mail and chat.
    years
        How many years of history to show before the last month: the whole
        of a 25-year series would flatten the months the forecast is about.
    """
    history = data.history.sort_values("ds")
    last = history["ds"].iloc[-1]
    start = max(history["ds"].iloc[0], last - pd.DateOffset(years=years))
    shown = history[history["ds"] >= start]
    points = (data.forecast or {}).get("forecast") or []
    end = _month(points[-1]["month"]) if points else last

    with _LOCK:
        fig = Figure(figsize=(10, 4.6), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot(shown["ds"], shown["y"], color=HISTORY, linewidth=1.6, label="observed")
        if points:
            months = [last, *(_month(p["month"]) for p in points)]
            last_y = float(history["y"].iloc[-1])
            mean = [last_y, *(float(p["mean"]) for p in points)]
            lower = [last_y, *(float(p["lower"]) for p in points)]
            upper = [last_y, *(float(p["upper"]) for p in points)]
            level = data.forecast.get("level", "") if data.forecast else ""
            ax.fill_between(
                months, lower, upper, color=FORECAST, alpha=0.18, label=f"{level}% interval"
            )
            ax.plot(months, mean, color=FORECAST, linewidth=1.6, linestyle="--", label="forecast")
        previous: pd.Timestamp | None = None
        row = 0
        for event in sorted(_events_in(data.events, start, end), key=lambda e: e.date):
            when = pd.Timestamp(event.date)
            # Events a few months apart get their labels staggered, not stacked on each other.
            close = previous is not None and (when - previous).days < 150
            row = (row + 1) % 3 if close else 0
            previous = when
            ax.axvline(when, color=EVENT, linewidth=0.8, linestyle=":")
            ax.annotate(
                event.id,
                xy=(when, 1.0 - 0.3 * row),
                xycoords=("data", "axes fraction"),
                rotation=90,
                fontsize=7,
                color=EVENT,
                ha="right",
                va="top",
            )
        for kind, color, marker in (("surge", SURGE, "^"), ("drop", DROP, "v")):
            hits = [a for a in data.alerts if a.get("kind") == kind and start <= _month(a["month"])]
            if hits:
                ax.scatter(
                    [_month(a["month"]) for a in hits],
                    [float(a["observed"]) for a in hits],
                    color=color,
                    marker=marker,
                    s=46,
                    zorder=5,
                    label=f"{kind} alert",
                )
        ax.set_title(data.title, loc="left", fontsize=12)
        if data.note:
            ax.set_title(data.note, loc="right", fontsize=9, color="#555")
        ax.set_ylabel("encounters per month")
        ax.set_ylim(bottom=0)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
        ax.grid(True, axis="y", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, 0.9), fontsize=8, frameon=False)
        buffer = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else None
        # Text as <text>, not glyph paths: a third of the size, and searchable.
        with matplotlib.rc_context({"svg.fonttype": "none"}):
            fig.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()
