"""Charts of one series: history, forecast with its interval, policy events and alerts;
and the transit indicators of a citizenship beside its encounters, shifted by their lead.

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
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

_LOCK = threading.Lock()

HISTORY = "#1f4e79"
FORECAST = "#c0504d"
SURGE = "#d62728"
DROP = "#2ca02c"
EVENT = "#7f7f7f"
#: One colour per indicator, strongest correlation first: tab10 without HISTORY's blue,
#: then tab20's light shades.
INDICATOR_COLOURS = (
    "#d62728",
    "#ff7f0e",
    "#2ca02c",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#aec7e8",
    "#98df8a",
    "#c5b0d5",
)


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
            _labelled_line(ax, when, event.id, ":", height=1.0 - 0.3 * row)
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
        return _save(fig, fmt)


def _labelled_line(
    ax: Axes,
    when: pd.Timestamp,
    label: str,
    linestyle: str,
    height: float = 1.0,
    bbox: dict[str, Any] | None = None,
) -> None:
    """A vertical line at ``when`` with its label written up it, ``height`` down from the top."""
    ax.axvline(when, color=EVENT, linewidth=0.8, linestyle=linestyle)
    ax.annotate(
        label,
        xy=(when, height),
        xycoords=("data", "axes fraction"),
        rotation=90,
        fontsize=7,
        color=EVENT,
        ha="right",
        va="top",
        bbox=bbox,
    )


def _save(fig: Figure, fmt: Literal["svg", "png"]) -> bytes:
    buffer = io.BytesIO()
    metadata = {"Date": None} if fmt == "svg" else None
    # Text as <text>, not glyph paths: a third of the size, and searchable.
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format=fmt, metadata=metadata)
    return buffer.getvalue()


@dataclass
class IndicatorLine:
    """One transit series to draw: its monthly counts and the lead it is shifted by."""

    label: str
    history: pd.DataFrame
    lead_months: int
    strong: bool = True


@dataclass
class IndicatorChartData:
    """The encounter series (``ds, y``) and the indicators, strongest first."""

    title: str
    encounters: pd.DataFrame
    encounters_label: str
    lines: list[IndicatorLine]
    note: str | None = None


def _on_log_axis(frame: pd.DataFrame) -> pd.Series:
    """``ds, y`` as a monthly series with gaps as NaN, so a line breaks where a month is
    missing or zero (no place on a log axis) instead of bridging it."""
    series = frame.groupby("ds")["y"].last().sort_index()
    if series.empty:
        return series
    months = pd.date_range(series.index.min(), series.index.max(), freq="MS")
    full = series.reindex(months)
    return full.where(full > 0)


def _mark_alone(ax: Axes, points: pd.Series, colour: str) -> None:
    """A dot for each month standing alone between gaps, which a line alone would not show."""
    alone = points.notna() & points.shift(1).isna() & points.shift(-1).isna()
    if alone.any():
        ax.plot(points.index[alone], points[alone], linestyle="none", marker=".", color=colour)


def render_indicators(data: IndicatorChartData, fmt: Literal["svg", "png"]) -> bytes:
    """Encounters and each indicator shifted forward by its lead, on one log axis.

    A log axis puts a series of a few hundred a month and one of tens of
    thousands on the same chart and turns "tracks the encounters a month
    later" into parallel lines. Months with a count of zero have no place on
    it and are left out. The window starts at the first indicator month; a
    shifted indicator reaching past the last encounter month shows what it
    says of the months to come (the dashed line marks the last month known).
    """
    encounters = data.encounters.sort_values("ds")
    shifted = [
        (line, line.history.assign(ds=line.history["ds"] + pd.DateOffset(months=line.lead_months)))
        for line in data.lines
    ]
    starts = [frame["ds"].min() for _, frame in shifted if len(frame)]
    start = min(starts) if starts else encounters["ds"].iloc[0]
    last = encounters["ds"].iloc[-1]
    shown = _on_log_axis(encounters[encounters["ds"] >= start])

    with _LOCK:
        fig = Figure(figsize=(10, 5.4), dpi=100, layout="constrained")
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot(shown.index, shown, color=HISTORY, linewidth=2.2, label=data.encounters_label)
        _mark_alone(ax, shown, HISTORY)
        for i, (line, frame) in enumerate(shifted):
            points = _on_log_axis(frame)
            colour = INDICATOR_COLOURS[i % len(INDICATOR_COLOURS)]
            ax.plot(
                points.index,
                points,
                color=colour,
                linewidth=1.5 if line.strong else 0.9,
                alpha=1.0 if line.strong else 0.7,
                linestyle="-" if line.strong else (0, (4, 1.5)),
                label=line.label,
            )
            _mark_alone(ax, points, colour)
        _labelled_line(
            ax,
            last,
            f"last encounter month {last:%Y-%m}",
            "--",
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"},
        )
        ax.set_title(data.title, loc="left", fontsize=12)
        if data.note:
            ax.set_title(data.note, loc="right", fontsize=8, color="#555")
        ax.set_yscale("log")
        ax.set_ylabel("people per month (log scale)")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{v:,.0f}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.grid(True, axis="y", which="major", alpha=0.3)
        ax.spines[["top", "right"]].set_visible(False)
        ax.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.08),
            ncols=2,
            fontsize=7.5,
            frameon=False,
        )
        return _save(fig, fmt)
