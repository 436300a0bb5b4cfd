"""Surge detection over the bundled history: issue 10's table, and how long a replay takes.

Run from the repository root::

    .venv/bin/python bench/detection.py [--workbook PATH] [--no-replay]

It reads the bundled OHSS workbook through the project's reader, scores the
baseline detectors of issue 10 and Bordercast's on every southwest USBP
series (every surge onset 2012-2024, recurring ones too; definitions in
``forecasting/replay.py``), on the whole period and on the two halves used
to choose and then check the default thresholds (chosen on 2012-2019, held
out 2020-2024). It then times detection as of one month over every series
of the workbook, and a month-by-month replay of every southwest series over
2012-2024 (each month judged on the counts up to it, the events of that
month collected), and checks the replay gives the same events as one pass.

Writes ``bench/results/detection.json`` and ``bench/results/detection.md``
(the table the README quotes).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecasting.readers import read  # noqa: E402
from forecasting.replay import (  # noqa: E402
    BASELINES,
    DetectionReport,
    bordercast_detector,
    evaluate,
    one_step_upper,
    surge_onsets,
)
from forecasting.surges import (  # noqa: E402
    SurgeSettings,
    detect,
    episodes,
    events_frame,
    new_events,
)

WORKBOOK = ROOT / "data" / "ohss-khsm-usbp-encounters-fy2000-fy2025.xlsx"
RESULTS = ROOT / "bench" / "results"
PERIODS = {
    "all": ("2012-01", "2024-12"),
    "2012-2019": ("2012-01", "2019-12"),
    "2020-2024": ("2020-01", "2024-12"),
}
TARGET = {
    "surges_caught_pct": (">=", 95.0),
    "median_months_early": (">=", 3.0),
    "alerts_real_pct": (">=", 80.0),
    "months_on_pct": ("<=", 8.0),
}


INTRO = """### Surge detection, replayed over the bundled history

Every southwest USBP series of the OHSS workbook, each month judged only on the
counts up to it (`bench/detection.py`, definitions in `forecasting/replay.py`).

- **A surge** (ground truth, in hindsight): a month where a series' trailing
  12-month mean is at least twice the same mean a year earlier and at least 100
  a month, after 12 months without such a month. Recurring surges count, one
  long surge counts once.
- **Caught**: the detector is on in some month from 6 months before the onset to
  1 month after; **months early** = onset minus the first such month (median
  over the surges caught).
- **Real alert**: an alert (an episode opening; for a baseline, the first month of
  a run of "on" months) whose next three months average at least twice the 12
  months before the alert month. The alert month itself counts in neither, so a
  one-month spike that falls back is not real: the series must keep rising or
  stay up. Alerts without three later months in the data are left out.
- **Months on**: share of observed series-months with the detector on (for
  Bordercast, a surge episode open).

Target: >= 95% caught, >= 3 months early, >= 80% real, <= 8% on. The defaults
were chosen on half A of the series (every other citizenship code) over
2012-2024 as the grid point with the most real alerts among those meeting the
other three targets, excluding resolution rules that cannot end an episode on
a plateau; half B was held out. The era split (2012-2019 / 2020-2024) is
shown too: the quieter 2010s have few surges (20) and Bordercast catches 18.

Timing: detection as of one month over all {detect_series} series of the
workbook {detect_one_month_all_series_s:.2f} s; the month-by-month replay of
every southwest series over 2012-2024 {replay_southwest_2012_2024_s:.0f} s,
{replay_events} events, identical to one pass: {replay_equals_one_pass}.
"""


def load(path: Path) -> pd.DataFrame:
    """Every series of the workbook as ``unique_id, ds, y`` (citizenship:region:component)."""
    counts = read(path.name, path.read_bytes()).counts
    counts = counts[counts["citizenship"] != "ALL"]
    frame = pd.DataFrame(
        {
            "unique_id": counts["citizenship"] + ":" + counts["region"] + ":" + counts["component"],
            "ds": counts["month"],
            "y": counts["count"].astype("float64"),
        }
    )
    return frame.sort_values(["unique_id", "ds"], ignore_index=True)


def meets(figures: dict[str, object]) -> dict[str, bool]:
    out = {}
    for key, (op, bound) in TARGET.items():
        value = float(figures[key])  # type: ignore[arg-type]
        out[key] = value >= bound if op == ">=" else value <= bound
    return out


def halves(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The series split the defaults were tuned on: every other citizenship code, sorted.

    Half A (AF, AO, ...) chose the thresholds; half B (AL, AR, ...) checks them.
    """
    ids = sorted(frame["unique_id"].unique())
    return (
        frame[frame["unique_id"].isin(ids[0::2])],
        frame[frame["unique_id"].isin(ids[1::2])],
    )


def score(frame: pd.DataFrame, settings: SurgeSettings) -> dict[str, list[DetectionReport]]:
    """Every detector on every evaluation: the whole history, each half of the series, each era."""
    upper = one_step_upper(frame)
    tuning, held_out = halves(frame)
    # Detection is per series, so one pass over every series serves every subset.
    bordercast = bordercast_detector(frame, settings, upper)
    evaluations = {
        "all series, 2012-2024": (frame, *PERIODS["all"]),
        "tuning half of the series (A), 2012-2024": (tuning, *PERIODS["all"]),
        "held-out half of the series (B), 2012-2024": (held_out, *PERIODS["all"]),
        "all series, 2012-2019": (frame, *PERIODS["2012-2019"]),
        "all series, 2020-2024": (frame, *PERIODS["2020-2024"]),
    }
    out: dict[str, list[DetectionReport]] = {}
    for label, (part, start, end) in evaluations.items():
        onsets = surge_onsets(part, start, end)
        reports = [
            evaluate(part, start=start, end=end, detector=make(frame), name=name, onsets=onsets)
            for name, make in BASELINES.items()
        ]
        ours = evaluate(
            part, start=start, end=end, detector=bordercast, name="Bordercast", onsets=onsets
        )
        reports.append(ours)
        out[label] = reports
    return out


def table(reports: list[DetectionReport]) -> str:
    lines = [
        "| detector | surges caught | median months early | alerts that were real | months on |",
        "|---|---|---|---|---|",
    ]
    for r in reports:
        lines.append(
            f"| {r.name} | {r.surges_caught_pct:.0f}% ({r.n_caught}/{r.n_surges}) "
            f"| {r.median_months_early:g} "
            f"| {r.alerts_real_pct:.0f}% ({r.n_alerts_real}/{r.n_alerts_judged}) "
            f"| {r.months_on_pct:.1f}% |"
        )
    return "\n".join(lines)


def time_detect(frame: pd.DataFrame, settings: SurgeSettings, as_of: str, repeat: int = 7) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        detect(frame, settings, as_of=as_of)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def replay(
    frame: pd.DataFrame, settings: SurgeSettings, start: str, end: str
) -> tuple[float, int, bool]:
    """Month by month, the events of each month; (seconds, events, equal to one pass)."""
    months = pd.date_range(start, min(pd.Timestamp(end), frame["ds"].max()), freq="MS")
    t = time.perf_counter()
    sent = [new_events(frame[frame["ds"] <= m], settings, as_of=m) for m in months]
    seconds = time.perf_counter() - t
    stepwise = pd.concat(sent, ignore_index=True)
    once = events_frame(episodes(frame, settings, as_of=months[-1]))
    once = once[once["ds"] >= months[0]].reset_index(drop=True)
    same = stepwise["event_id"].tolist() == once["event_id"].tolist()
    return seconds, len(stepwise), same


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workbook", type=Path, default=WORKBOOK)
    parser.add_argument("--no-replay", action="store_true", help="skip the timed replay")
    args = parser.parse_args()
    settings = SurgeSettings()

    everything = load(args.workbook)
    southwest = everything[everything["unique_id"].str.endswith(":southwest:usbp")]
    southwest = southwest.reset_index(drop=True)
    scored = score(southwest, settings)

    last = f"{everything['ds'].max():%Y-%m}"
    detect_s = time_detect(everything, settings, last)
    result: dict[str, object] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "settings": settings.as_dict(),
        "series": {
            "southwest_usbp": int(southwest["unique_id"].nunique()),
            "all_in_workbook": int(everything["unique_id"].nunique()),
        },
        "target": {k: f"{op} {v:g}" for k, (op, v) in TARGET.items()},
        "periods": {
            period: [r.figures() | {"meets_target": meets(r.figures())} for r in reports]
            for period, reports in scored.items()
        },
        "surges": scored["all series, 2012-2024"][-1]
        .surges.assign(
            onset=lambda d: d["onset"].dt.strftime("%Y-%m"),
            first_alert=lambda d: d["first_alert"].dt.strftime("%Y-%m"),
        )
        .astype(object)
        .where(lambda d: d.notna(), None)
        .to_dict("records"),
        "timing": {
            "detect_one_month_all_series_s": round(detect_s, 4),
            "detect_series": int(everything["unique_id"].nunique()),
        },
    }
    if not args.no_replay:
        seconds, n_events, same = replay(southwest, settings, "2012-01", "2024-12")
        result["timing"] |= {  # type: ignore[operator]
            "replay_southwest_2012_2024_s": round(seconds, 2),
            "replay_events": n_events,
            "replay_equals_one_pass": same,
        }

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "detection.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    md = [
        INTRO.format(**result["timing"])
        if "replay_southwest_2012_2024_s" in result["timing"]
        else INTRO.split("Timing:")[0]
    ]
    for period, reports in scored.items():
        md.append(f"#### {period}\n\n{table(reports)}\n")
    (RESULTS / "detection.md").write_text("\n".join(md))
    print("\n".join(md))
    print(json.dumps(result["timing"], indent=2))


if __name__ == "__main__":
    main()
