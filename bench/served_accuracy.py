"""Issue 9's accuracy protocol scored on what the service would have served at each origin.

``bench/accuracy.py`` scores the models themselves, ``bordercast`` among them.
In service, a training also chooses among the random walk, Theta and
``bordercast`` by a pooled backtest, calibrates the intervals on every
series and fits the global model on every series: what an exact as-of
forecast gives (:func:`forecasting.training.plan_at`). Here each of the 34
origins gets that plan, built on a store of the OHSS workbook alone as of
the origin, and each of the 20 series its served forecast for horizons 1-6
(``train_one``, as ``bordercast train`` does). Scored like the other bench:
AvgRelMAE against the random walk, per horizon, and interval coverage; the
model chosen at each origin is listed.

Every other series of the store is scored too (``others``), by size class
of its count at the origin, since issue 9's targets hold off the protocol
as well. ``--recent`` replaces the protocol's origins with the monthly ones
from 2024-06 to 2025-05 on a store of every bundled file (CBP releases to
November 2025): the forecasts made across the January 2025 break, and
those made after it (origins from 2025-02) apart.

Run: ``.venv/bin/python bench/served_accuracy.py [--recent] [--db PATH]``
(about 40 s per origin on 2 cores); writes
``bench/results/served_accuracy.json`` (``served_accuracy_recent.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from itertools import pairwise
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accuracy import HORIZON, ORIGINS, WORKBOOK, protocol_ids  # noqa: E402
from indicators import FILES  # noqa: E402
from stores import bundled_store  # noqa: E402

from forecasting.backtest import summarize  # noqa: E402
from forecasting.intervals import SIZE_EDGES  # noqa: E402
from forecasting.training import LEVELS, plan, train_one  # noqa: E402

RECENT = pd.date_range("2024-06-01", "2025-05-01", freq="MS")
AFTER_BREAK = pd.Timestamp("2025-02-01")
COLUMNS = [
    "rel_mae",
    *[f"rel_mae_h{h}" for h in range(1, HORIZON + 1)],
    "worst_h",
    "cov-80",
    "cov-95",
]


def origin_rows(store, origin: pd.Timestamp, frame: pd.DataFrame) -> tuple:  # type: ignore[no-untyped-def]
    """The served forecasts of every live series as of ``origin``, as backtest rows."""
    the_plan = plan(store, as_of=f"{origin:%Y-%m}", n_jobs=2)
    actuals = {u: g.set_index("ds")["y"] for u, g in frame.groupby("unique_id")}
    rows = []
    for uid in the_plan.series_ids:
        actual = actuals[uid]
        if origin not in actual.index:
            continue
        result = train_one(the_plan, uid)
        if not result.ok or result.record is None:
            raise SystemExit(f"{uid} as of {origin:%Y-%m}: {result.error}")
        predicted = result.record.artifact.predict(HORIZON, LEVELS)
        for k, row in enumerate(predicted.to_dict("records"), start=1):
            if row["ds"] not in actual.index:
                continue
            bounds = {f"{b}-{lv}": row[f"{b}-{lv}"] for b in ("lo", "hi") for lv in LEVELS}
            common = {"unique_id": uid, "cutoff": origin, "ds": row["ds"], "h": k}
            truth = {"y": float(actual[row["ds"]]), "y_cutoff": float(actual[origin])}
            rows.append({"model": "served", **common, **truth, "mean": row["mean"], **bounds})
    return pd.DataFrame(rows).assign(mase_scale=1.0), the_plan.chosen  # MASE not reported


def scores(cv: pd.DataFrame) -> dict[str, float]:
    """The served model's AvgRelMAE (overall, per horizon) and coverage on ``cv``'s rows."""
    table = summarize(cv)
    present = [c for c in COLUMNS if c in table.columns]  # series ending early lack h6
    return {c: round(float(table.loc["served", c]), 4) for c in present} | {
        "series_origins": int(cv[["unique_id", "cutoff"]].drop_duplicates().shape[0])
    }


def by_size(cv: pd.DataFrame) -> dict[str, dict[str, float]]:
    """:func:`scores` per size class of the series' count at the origin."""
    edges = (0, *SIZE_EDGES, float("inf"))
    out = {}
    for lower, upper in pairwise(edges):
        part = cv[(cv["y_cutoff"] >= lower) & (cv["y_cutoff"] < upper)]
        if len(part):
            out[f"{lower:g}-{upper:g}"] = scores(part)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--recent", action="store_true", help="2024-06 to 2025-05, every file")
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    started = time.time()
    load_start = os.getloadavg()[0]
    if args.recent:
        db, files, origins = args.db or "/tmp/bordercast-indicators/full.db", FILES, RECENT
    else:
        db, files, origins = args.db or "/tmp/bordercast-served/ohss.db", [WORKBOOK], ORIGINS
    store = bundled_store(Path(db), files)
    frame = store.series_frame()
    # the OHSS series end in 2024-11; across the break, the CBP releases' USBP + OFO ones
    ids = protocol_ids(frame, suffix=":southwest:all" if args.recent else ":southwest:usbp")
    parts, chosen = [], {}
    for origin in origins:
        part, chosen[f"{origin:%Y-%m}"] = origin_rows(store, origin, frame)
        parts.append(part)
        print(f"{origin:%Y-%m}: {chosen[f'{origin:%Y-%m}']}", flush=True)
    cv = pd.concat(parts, ignore_index=True)
    cv.to_parquet(Path(db).with_suffix(".served.parquet"))  # the rows, for a second look
    protocol = cv[cv["unique_id"].isin(ids)]
    others = cv[~cv["unique_id"].isin(ids)]
    result = {
        "protocol": {"series": ids, "origins": [f"{o:%Y-%m}" for o in origins], "horizon": HORIZON},
        "served": scores(protocol),
        "others": scores(others),
        "others_by_size": by_size(others),
        "chosen_per_origin": chosen,
    }
    if args.recent:
        after = cv[cv["cutoff"] >= AFTER_BREAK]
        result["after_break"] = {"protocol": scores(after[after["unique_id"].isin(ids)])}
        result["after_break"]["others"] = scores(after[~after["unique_id"].isin(ids)])
    result["seconds"] = round(time.time() - started, 1)
    result["load_average_1m"] = {"start": load_start, "end": os.getloadavg()[0]}
    name = "served_accuracy_recent.json" if args.recent else "served_accuracy.json"
    (ROOT / "bench" / "results" / name).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "protocol"}, indent=2))


if __name__ == "__main__":
    main()
