"""How far the January 2025 break lies beyond every error the data held before it.

Issue 9 asks the 80% / 95% bands to cover 75-85% / 90-97% across abrupt
breaks like January 2025 too. `bench/served_accuracy.py --recent` measures
64.9% / 75.2% there. This bench asks whether any band drawn from past errors
could do better without breaking the same range everywhere else. It uses the
random walk, so no model choice enters: its error is the log change from the
origin to the target month.

- The break rows: the 20 largest southwest citizenships of the CBP releases
  (the `--recent` protocol), origins 2024-06 to 2025-01, target months from
  2025-02 on.
- The past: every series of the store at 1 or more encounters at the
  origin (a series at 0 mostly stays there), origins from 2016-01, target
  months up to 2025-01. That is all any calibration could have drawn on
  before the break was seen.

Per level, the band is a factor times the past quantile of the row's size
class and horizon, the same factor for every row. ``factor_for_the_range``
is the smallest that brings the whole `--recent` protocol to the range's
lower end (75% at 80%, 90% at 95%); ``past_covered_at_factor`` is the share
of the past targets such a band would have covered, against the range's
upper end (85%, 97%), and ``past_crossing_covered_at_factor`` the share of
those that crossed an announced step of the policy calendar.
``protocol_covered_widened_over_steps`` is the protocol's coverage with a
band drawn as past crossings support: over months that cross an announced
step, the quantile of the past rows that crossed one
(``step_quantile_ratio``: its median ratio to the quantile of all past
rows), as stop 19 tried with the served bands.

Run: ``.venv/bin/python bench/break_precedent.py [--db PATH]`` (seconds, once
the store exists); writes ``bench/results/break_precedent.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from accuracy import protocol_ids
from indicators import FILES
from stores import ROOT, bundled_store

from forecasting.intervals import size_class
from forecasting.policy import PolicyEvent, known_as_of, load_events, regressors
from forecasting.training import policy_path

HORIZON = 6
FIRST_ORIGIN = pd.Timestamp("2016-01-01")
RECENT = pd.date_range("2024-06-01", "2025-05-01", freq="MS")
BREAK = pd.Timestamp("2025-02-01")
#: The ranges issue 9 asks the bands to cover, per level.
TARGET = {80: (0.75, 0.85), 95: (0.90, 0.97)}
#: A series every event applies to (all citizenships, all regions), to read a step's regressor.
EVERY_SERIES = "ALL:all:all"


def changes(frame: pd.DataFrame) -> pd.DataFrame:
    """The random walk's rows: series, origin, horizon, count at the origin, log change."""
    wide = frame.pivot(index="ds", columns="unique_id", values="y").asfreq("MS")
    z = np.log1p(wide)
    at = wide.stack().rename("y0")
    parts = []
    for h in range(1, HORIZON + 1):
        err = (z.shift(-h) - z).stack().rename("err")
        part = pd.concat([err, at], axis=1, join="inner").reset_index()
        part["h"] = h
        parts.append(part)
    rows = pd.concat(parts, ignore_index=True).dropna(subset=["err", "y0"])
    rows["target"] = (rows["ds"].dt.to_period("M") + rows["h"]).dt.to_timestamp()
    rows["size"] = size_class(rows["y0"].to_numpy())
    rows["a"] = rows["err"].abs()
    return rows


def crossed(rows: pd.DataFrame, events: list[PolicyEvent]) -> np.ndarray:
    """Rows whose months cross a step of the calendar known at their origin.

    As the service reads the calendar: a step is known once announced by the
    end of the origin month (:func:`~forecasting.policy.known_as_of`) and
    crosses a row that it applies to when it is in full effect (its
    :func:`~forecasting.policy.regressors` value 1) in the target month but
    not yet in the origin month.
    """
    out = np.zeros(len(rows), bool)
    origins = pd.DatetimeIndex(rows["ds"].unique())
    months = pd.date_range(origins.min(), rows["target"].max(), freq="MS")
    for event in (e for e in events if e.kind == "step"):
        share = regressors([event], EVERY_SERIES, months)[event.id].to_numpy()
        full = pd.Series(share == 1.0, index=months)
        known = [o for o in origins if known_as_of([event], o)]
        applies = rows["unique_id"].map(event.applies_to).to_numpy(bool)
        timing = rows["ds"].isin(known) & ~rows["ds"].map(full) & rows["target"].map(full)
        out |= applies & timing.to_numpy(bool)
    return out


def smallest_factor(ratios: pd.Series, share: float) -> float:
    """The smallest factor, at least 1 and in steps of 0.01, covering ``share`` of the ratios."""
    q = float(np.quantile(ratios, share, method="inverted_cdf"))
    return max(1.0, float(np.ceil(round(q * 100, 9)) / 100))


def measure(rows: pd.DataFrame, ids: list[str], events: list[PolicyEvent]) -> dict[str, object]:
    """The break rows against the past quantiles of their size class and horizon."""
    past = rows[(rows["ds"] >= FIRST_ORIGIN) & (rows["target"] < BREAK) & (rows["y0"] >= 1)]
    keys = ["size", "h"]
    table = past.groupby(keys)["a"].quantile([0.80, 0.95]).unstack().add_prefix("q")
    table["max"] = past.groupby(keys)["a"].max()
    old = past.join(table, on=keys)
    stepped = crossed(old, events)
    # the band a past crossing supports: its own quantiles, over the months that cross a step
    steps = old[stepped].groupby(keys)["a"].quantile([0.80, 0.95]).unstack().add_prefix("s")
    recent = rows[rows["unique_id"].isin(ids) & rows["ds"].isin(RECENT)]
    rec = recent.join(table, on=keys).join(steps, on=keys)
    if not (rec["q0.8"] > 0).all():
        raise ValueError(
            "a protocol row has no past quantile above 0 for its size class and horizon"
        )
    rec_stepped = crossed(rec, events)
    across = ((rec["ds"] < BREAK) & (rec["target"] >= BREAK)).to_numpy()
    brk = rec[across]
    out: dict[str, object] = {
        "recent_rows": len(rec),
        "break_rows": len(brk),
        "past_rows": len(past),
        "past_rows_crossing_a_step": int(stepped.sum()),
        "median_log_change": round(float(brk["err"].median()), 3),
        "beyond_past_q0.8": round(float((brk["a"] > brk["q0.8"]).mean()), 3),
        "beyond_past_q0.95": round(float((brk["a"] > brk["q0.95"]).mean()), 3),
        "beyond_past_max": round(float((brk["a"] > brk["max"]).mean()), 3),
        "break_rows_crossing_a_step": int(rec_stepped[across].sum()),
    }
    for level, (low, _high) in TARGET.items():
        q, s = f"q{level / 100:g}", f"s{level / 100:g}"
        factor = smallest_factor(rec["a"] / rec[q], low)
        covered = old["a"] <= factor * old[q]
        band = np.where(rec_stepped, np.fmax(rec[s], rec[q]), rec[q])
        out[f"level_{level}"] = {
            "protocol_covered_by_past_quantile": round(float((rec["a"] <= rec[q]).mean()), 3),
            "factor_for_the_range": factor,
            "protocol_covered_at_factor": round(float((rec["a"] <= factor * rec[q]).mean()), 3),
            "break_covered_at_factor": round(float((brk["a"] <= factor * brk[q]).mean()), 3),
            "past_covered_at_factor": round(float(covered.mean()), 3),
            "past_crossing_covered_at_factor": round(float(covered[stepped].mean()), 3),
            "step_quantile_ratio": round(float((steps[s] / table[q]).median()), 2),
            "protocol_covered_widened_over_steps": round(float((rec["a"] <= band).mean()), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="/tmp/bordercast-indicators/full.db")
    args = parser.parse_args()
    frame = bundled_store(Path(args.db), FILES).series_frame()
    ids = protocol_ids(frame, suffix=":southwest:all")
    events = load_events(policy_path())
    result = {"series": ids, **measure(changes(frame), ids, events)}
    (ROOT / "bench" / "results" / "break_precedent.json").write_text(
        json.dumps(result, indent=2) + "\n"
    )
    print(json.dumps({k: v for k, v in result.items() if k != "series"}, indent=2))


if __name__ == "__main__":
    main()
