"""Transit watches replayed over 2020-2025: months of warning and false episodes, with and without.

Issue 11 parts 4 and 6. The rule (:mod:`forecasting.transit_watch`): a jump
in a nationality's Darién or Ecuador-entries count opens a ``watch`` on its
southwest series, which the U.S. counts then escalate or resolve. Kept only
if the replay shows earlier warnings without more false episodes.

Protocol:

* a store of the bundled OHSS workbook, the three CBP releases and the three
  transit files; indicator months are read as of each month with the
  publication lags in force (``PUBLICATION_LAG``);
* the southwest series of every citizenship with a Darién or Ecuador-entries
  series (``ALL`` and ``OTHER`` left out), in two evaluations:
  ``usbp`` (the OHSS workbook, through 2024-11, and CBP's southwest release
  for four citizenships through 2025-08), 2020-01 to the data's end; and
  ``all`` (USBP + OFO from CBP's nationwide releases, from 2019-10, so the
  detector's 24-month level exists from 2021-10 and a 6-month warning window
  from 2022-04), 2022-04 to 2025-11;
* ground truth, "caught", "months early" and "real" as in
  ``forecasting/replay.py`` (an onset: the trailing 12-month mean doubles
  year over year, >= 100 a month, after a quiet year; caught when an episode
  is open from 6 months before to 1 after; an alert is *false* when its next
  three months do not average twice the 12 months before it);
* a grid of thresholds (trailing window, ratio, minimum count; both sources);
  chosen on the tuning half of the citizenships (every other code, sorted:
  the split ``bench/detection.py`` uses) as the point with the most months
  of warning gained among those adding no false episode there (if none
  gains, the point with the most months gained less false episodes added),
  and reported on the held-out half and on all;
* months gained on a surge = months early with the rule - without (a surge
  not caught counts as 2 months late).

Run from the repository root: ``.venv/bin/python bench/transit_watch.py
[--db PATH]`` (about two minutes on 2 cores); writes
``bench/results/transit_watch.json``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stores import bundled_store  # noqa: E402

from forecasting.indicators import indicator_frame, publication_lags  # noqa: E402
from forecasting.replay import (  # noqa: E402
    DetectionReport,
    bordercast_detector,
    evaluate,
    surge_onsets,
)
from forecasting.store import Store  # noqa: E402
from forecasting.surges import Episode, SurgeSettings, episodes  # noqa: E402
from forecasting.transit_watch import SOURCES, jumps  # noqa: E402

FILES = (
    "ohss-khsm-usbp-encounters-fy2000-fy2025.xlsx",
    "cbp-nationwide-encounters-fy20-fy23-state.csv",
    "cbp-nationwide-encounters-fy23-fy26-nov-state.csv",
    "cbp-sw-border-encounters-fy22-fy25-aug.csv",
    "transit/mexico-irregular-migrants-by-nationality.csv",
    "transit/panama-darien-irregular-transit-by-nationality.csv",
    "transit/regular-entries-by-nationality.csv",
)
RESULTS = ROOT / "bench" / "results"
#: component -> first month scored (the last is the data's end).
EVALUATIONS = {"usbp": "2020-01", "all": "2022-04"}
LATE = -2  # months early of a surge not caught: one month past the latest catch
GRID = {
    "indicator_window": (3, 6, 12),
    "indicator_ratio": (2.0, 3.0, 5.0, 8.0),
    "indicator_minimum": (50.0, 100.0, 200.0, 500.0, 2000.0),
}


def series_sets(store: Store, ind: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per component, the southwest series of every citizenship with a watched indicator."""
    used = ind[ind["unique_id"].str.split(":").str[0].isin(SOURCES)]
    codes = set(used["unique_id"].str.split(":").str[1]) - {"ALL", "OTHER"}
    out = {}
    for component in EVALUATIONS:
        frame = store.series_frame(region="southwest", component=component)
        keep = frame["unique_id"].str.split(":").str[0].isin(codes)
        out[component] = frame[keep.to_numpy()].reset_index(drop=True)
    return out


def halves(codes: list[str]) -> dict[str, set[str]]:
    codes = sorted(codes)
    return {"tuning": set(codes[0::2]), "held-out": set(codes[1::2]), "all": set(codes)}


def _code(uid: pd.Series) -> pd.Series:
    return uid.str.split(":").str[0]


class Replay:
    """Every evaluation's frame and onsets, and the detector runs, cached per settings."""

    def __init__(self, frames: dict[str, pd.DataFrame], ind: pd.DataFrame) -> None:
        self.frames, self.ind = frames, ind
        self.periods = {c: (pd.Timestamp(EVALUATIONS[c]), frames[c]["ds"].max()) for c in frames}
        self.onsets = {c: surge_onsets(frames[c], *self.periods[c]) for c in frames}

    def reports(
        self, settings: SurgeSettings, sources: tuple[str, ...], split: dict[str, set[str]]
    ) -> dict[str, dict[str, DetectionReport]]:
        """Per subset of citizenships, per evaluation, the detector's report."""
        ind = self.ind[self.ind["unique_id"].str.split(":").str[0].isin(sources)]
        out: dict[str, dict[str, DetectionReport]] = {name: {} for name in split}
        for c, frame in self.frames.items():
            detector = bordercast_detector(frame, settings, indicators=ind)
            start, end = self.periods[c]
            for name, codes in split.items():
                part = frame[_code(frame["unique_id"]).isin(codes).to_numpy()]
                onsets = self.onsets[c]
                onsets = onsets[_code(onsets["unique_id"]).isin(codes).to_numpy()]
                out[name][c] = evaluate(
                    part, start=start, end=end, detector=detector, onsets=onsets
                )
        return out


def _false(report: DetectionReport) -> pd.DataFrame:
    return report.alerts[report.alerts["real"].eq(False)]


def compare(
    with_: dict[str, DetectionReport], without: dict[str, DetectionReport]
) -> dict[str, object]:
    """Months gained and false episodes added, summed over the evaluations."""
    gained = earlier = later = 0
    n = n_false_with = n_false_without = alerts_with = alerts_without = 0
    moved: list[str] = []
    for c in with_:
        w, wo = with_[c], without[c]
        ew = w.surges["months_early"].fillna(LATE).to_numpy()
        ewo = wo.surges["months_early"].fillna(LATE).to_numpy()
        gained += int((ew - ewo).sum())
        moved.extend(
            f"{uid} {onset:%Y-%m} {int(d):+d}"
            for uid, onset, d in zip(
                w.surges["unique_id"], w.surges["onset"], ew - ewo, strict=True
            )
            if d
        )
        earlier += int((ew > ewo).sum())
        later += int((ew < ewo).sum())
        n += len(ew)
        n_false_with += len(_false(w))
        n_false_without += len(_false(wo))
        alerts_with += w.n_alerts
        alerts_without += wo.n_alerts
    return {
        "surges": n,
        "months_gained": gained,
        "surges_earlier": earlier,
        "surges_later": later,
        "surges_moved": moved,
        "false_with": n_false_with,
        "false_without": n_false_without,
        "false_added": n_false_with - n_false_without,
        "alerts_with": alerts_with,
        "alerts_without": alerts_without,
        "months_on_pct_with": {c: round(with_[c].months_on_pct, 2) for c in with_},
        "months_on_pct_without": {c: round(without[c].months_on_pct, 2) for c in without},
    }


def grid_points() -> list[dict[str, object]]:
    keys = list(GRID)
    return [dict(zip(keys, values, strict=True)) for values in itertools.product(*GRID.values())]


def settings_of(point: dict[str, object]) -> SurgeSettings:
    return replace(SurgeSettings(), use_indicators=True, **point)


def choose(scored: list[dict[str, object]]) -> dict[str, object]:
    """The tuning half's pick (see the module docstring)."""
    clean = [
        s for s in scored if s["tuning"]["false_added"] <= 0 and s["tuning"]["months_gained"] > 0
    ]  # type: ignore[index,operator]
    if clean:
        return max(clean, key=lambda s: (s["tuning"]["months_gained"], -s["tuning"]["alerts_with"]))  # type: ignore[index]
    return max(
        scored,
        key=lambda s: (
            s["tuning"]["months_gained"] - s["tuning"]["false_added"],  # type: ignore[index,operator]
            -s["tuning"]["false_added"],  # type: ignore[index,operator]
        ),
    )


def per_surge(
    with_: dict[str, DetectionReport], without: dict[str, DetectionReport]
) -> pd.DataFrame:
    rows = []
    for c in with_:
        m = with_[c].surges.merge(
            without[c].surges, on=["unique_id", "onset"], suffixes=("_with", "_without")
        )
        rows.append(m)
    out = pd.concat(rows, ignore_index=True)
    gain = out["months_early_with"].fillna(LATE) - out["months_early_without"].fillna(LATE)
    return pd.DataFrame(
        {
            "series": out["unique_id"],
            "onset": out["onset"].dt.strftime("%Y-%m"),
            "first_warning_without": out["first_alert_without"].dt.strftime("%Y-%m"),
            "first_warning_with": out["first_alert_with"].dt.strftime("%Y-%m"),
            "months_early_without": out["months_early_without"],
            "months_early_with": out["months_early_with"],
            "months_gained": gain.astype(int),
        }
    )


def opening(found: list[Episode], series: str, month: str) -> tuple[str, str | None]:
    """When the surge episode open at ``month`` opened, and the indicator that opened it."""
    at = pd.Timestamp(month)
    for e in found:
        if (
            e.unique_id == series
            and e.kind == "surge"
            and e.opened <= at
            and (e.resolved is None or e.resolved > at)
        ):
            return f"{e.opened:%Y-%m}", e.reason
    raise LookupError(f"no surge episode of {series} open in {month}")


def false_changes(
    with_: dict[str, DetectionReport],
    without: dict[str, DetectionReport],
    reasons: pd.DataFrame,
) -> pd.DataFrame:
    """False episodes the rule added (with the indicator that opened them) or removed."""
    rows = []
    for c in with_:
        keys = ["unique_id", "ds"]
        fw, fwo = _false(with_[c]), _false(without[c])
        added = fw.merge(fwo[keys], on=keys, how="left", indicator=True)
        added = added[added["_merge"] == "left_only"].assign(change="added")
        removed = fwo.merge(fw[keys], on=keys, how="left", indicator=True)
        removed = removed[removed["_merge"] == "left_only"].assign(change="removed")
        rows.extend([added, removed])
    out = pd.concat(rows, ignore_index=True)
    out["code"] = _code(out["unique_id"])
    out = out.merge(
        reasons.rename(columns={"citizenship": "code"})[["code", "ds", "reason"]],
        on=["code", "ds"],
        how="left",
    )
    out["reason"] = out["reason"].where(out["change"] == "added")
    out = out.groupby(["change", "unique_id", "ds"], as_index=False).agg(
        observed=("observed", "first"),
        level_before=("level_before", "first"),
        next3_mean=("next3_mean", "first"),
        reason=("reason", lambda r: "; ".join(sorted(x for x in r if isinstance(x, str)))),
    )
    out["month"] = out["ds"].dt.strftime("%Y-%m")
    return out.sort_values(["change", "ds", "unique_id"], ignore_index=True)[
        ["change", "unique_id", "month", "observed", "level_before", "next3_mean", "reason"]
    ]


def markdown(frame: pd.DataFrame) -> str:
    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return "-"
        if isinstance(v, float):
            return f"{v:,.0f}" if abs(v) >= 10 or v.is_integer() else f"{v:.1f}"
        return str(v)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(cell(v) for v in row) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/bordercast-transit-watch/store.db"))
    args = parser.parse_args()
    started = time.perf_counter()
    store = bundled_store(args.db, FILES)
    ind = indicator_frame(store)
    frames = series_sets(store, ind)
    codes = sorted(set().union(*(set(_code(f["unique_id"])) for f in frames.values())))
    split = halves(codes)
    replay = Replay(frames, ind)
    base = SurgeSettings()
    without = replay.reports(base, (), split)

    scored = []
    for point in grid_points():
        with_ = replay.reports(settings_of(point), SOURCES, split)
        scored.append(
            {
                "point": point,
                **{name: compare(with_[name], without[name]) for name in split},
            }
        )
    pick = choose(scored)
    settings = settings_of(pick["point"])  # type: ignore[arg-type]
    with_all = replay.reports(settings, SOURCES, {"all": split["all"]})["all"]
    surges = per_surge(with_all, without["all"])
    reasons = jumps(
        ind,
        settings.indicator_window,
        settings.indicator_ratio,
        settings.indicator_minimum,
    )
    reasons = reasons.groupby(["citizenship", "ds"], as_index=False)["reason"].agg("; ".join)
    changes = false_changes(with_all, without["all"], reasons)
    found = [e for f in frames.values() for e in episodes(f, settings, indicators=ind)]
    surges["watch_opened"], surges["watch_reason"] = zip(
        *(
            opening(found, r.series, r.first_warning_with) if r.months_gained else (None, None)
            for r in surges.itertuples(index=False)
        ),
        strict=True,
    )
    meets = {
        name: pick[name]["months_gained"] > 0 and pick[name]["false_added"] <= 0  # type: ignore[index,operator]
        for name in split
    }
    clean_points = {
        name: sum(
            1
            for s in scored
            if s[name]["months_gained"] > 0 and s[name]["false_added"] <= 0  # type: ignore[index,operator]
        )
        for name in split
    }
    decision = "on" if meets["all"] and meets["held-out"] else "off"

    summary = pd.DataFrame(
        [
            {
                "series": name,
                "surges": pick[name]["surges"],  # type: ignore[index]
                "months gained": pick[name]["months_gained"],  # type: ignore[index]
                "earlier": pick[name]["surges_earlier"],  # type: ignore[index]
                "later": pick[name]["surges_later"],  # type: ignore[index]
                "false without": pick[name]["false_without"],  # type: ignore[index]
                "false with": pick[name]["false_with"],  # type: ignore[index]
                "alerts without": pick[name]["alerts_without"],  # type: ignore[index]
                "alerts with": pick[name]["alerts_with"],  # type: ignore[index]
                "grid points gaining without more false": f"{clean_points[name]}/{len(scored)}",
            }
            for name in split
        ]
    )
    shown = surges.rename(columns=lambda c: c.replace("_", " "))
    ever: dict[str, list[int]] = {}
    for sc in scored:
        for item in sc["all"]["surges_moved"]:  # type: ignore[index]
            key, change = item.rsplit(" ", 1)
            ever.setdefault(key, []).append(int(change))
    anywhere = pd.DataFrame(
        [
            {
                "surge": key,
                "grid points moving it": f"{len(v)}/{len(scored)}",
                "months gained, least": min(v),
                "months gained, most": max(v),
            }
            for key, v in sorted(ever.items())
        ]
    )
    text = [
        "### Transit watches replayed, 2020-2025",
        "",
        f"Chosen on the tuning half: {json.dumps(pick['point'])}",
        "",
        markdown(summary),
        "",
        "#### Every surge (both evaluations), months of warning without and with the rule",
        "",
        markdown(shown),
        "",
        "#### Surges any grid point warned earlier or later (every other surge: at none)",
        "",
        markdown(anywhere),
        "",
        "#### False episodes added or removed by the rule",
        "",
        markdown(changes.rename(columns=lambda c: c.replace("_", " "))),
        "",
        f"Decision: the rule is {decision} by default.",
    ]
    print("\n".join(text))

    result = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "protocol": {
            "evaluations": {
                c: [f"{s:%Y-%m}", f"{e:%Y-%m}"] for c, (s, e) in replay.periods.items()
            },
            "series": {c: int(f["unique_id"].nunique()) for c, f in frames.items()},
            "citizenships": len(codes),
            "tuning_codes": sorted(split["tuning"]),
            "publication_lags": publication_lags(),
            "grid": {
                k: [list(v) if isinstance(v, tuple) else v for v in vs] for k, vs in GRID.items()
            },
            "late_if_missed": LATE,
        },
        "detector_settings": base.as_dict(),
        "chosen": pick["point"],
        "summary": {name: pick[name] for name in split},
        "grid_points_gaining_without_more_false": clean_points,
        "surges_moved_at_any_grid_point": anywhere.to_dict("records"),
        "surges": surges.astype(object).where(surges.notna(), None).to_dict("records"),
        "false_episode_changes": changes.astype(object)
        .where(changes.notna(), None)
        .to_dict("records"),
        "grid": scored,
        "decision": decision,
        "seconds": round(time.perf_counter() - started, 1),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "transit_watch.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    print(f"\n{result['seconds']} s; wrote bench/results/transit_watch.json")


if __name__ == "__main__":
    main()
