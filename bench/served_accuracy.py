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

Run: ``.venv/bin/python bench/served_accuracy.py [--db PATH]`` (about 30 s
per origin on 2 cores); writes ``bench/results/served_accuracy.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from accuracy import HORIZON, ORIGINS, WORKBOOK, protocol_ids  # noqa: E402
from stores import bundled_store  # noqa: E402

from forecasting.backtest import summarize  # noqa: E402
from forecasting.training import LEVELS, plan, train_one  # noqa: E402


def origin_rows(store, origin: pd.Timestamp, ids: list[str], frame: pd.DataFrame) -> tuple:  # type: ignore[no-untyped-def]
    """The served forecasts of ``ids`` as of ``origin``, as backtest rows, and the choice."""
    the_plan = plan(store, as_of=f"{origin:%Y-%m}", n_jobs=2)
    rows = []
    for uid in ids:
        result = train_one(the_plan, uid)
        if not result.ok or result.record is None:
            raise SystemExit(f"{uid} as of {origin:%Y-%m}: {result.error}")
        predicted = result.record.artifact.predict(HORIZON, LEVELS)
        actual = frame[frame["unique_id"] == uid].set_index("ds")["y"]
        for k, row in enumerate(predicted.to_dict("records"), start=1):
            if row["ds"] not in actual.index:
                continue
            bounds = {f"{b}-{lv}": row[f"{b}-{lv}"] for b in ("lo", "hi") for lv in LEVELS}
            rows.append(
                {
                    "model": "served",
                    "unique_id": uid,
                    "cutoff": origin,
                    "ds": row["ds"],
                    "h": k,
                    "y": float(actual[row["ds"]]),
                    "y_cutoff": float(actual[origin]),
                    "mean": row["mean"],
                    **bounds,
                    "mase_scale": 1.0,  # MASE is not reported here
                }
            )
    return rows, the_plan.chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", default="/tmp/bordercast-served/ohss.db")
    args = parser.parse_args()
    started = time.time()
    load_start = os.getloadavg()[0]
    store = bundled_store(Path(args.db), [WORKBOOK])
    frame = store.series_frame()
    ids = protocol_ids(frame)
    rows, chosen = [], {}
    for origin in ORIGINS:
        part, chosen[f"{origin:%Y-%m}"] = origin_rows(store, origin, ids, frame)
        rows.extend(part)
        print(f"{origin:%Y-%m}: {chosen[f'{origin:%Y-%m}']}", flush=True)
    cv = pd.DataFrame(rows)
    table = summarize(cv)
    cols = [
        "rel_mae",
        *[f"rel_mae_h{h}" for h in range(1, HORIZON + 1)],
        "worst_h",
        "cov-80",
        "cov-95",
    ]
    print(table[cols].round(4).to_string())
    result = {
        "protocol": {"series": ids, "origins": [f"{o:%Y-%m}" for o in ORIGINS], "horizon": HORIZON},
        "served": {c: round(float(table.loc["served", c]), 4) for c in cols},
        "chosen_per_origin": chosen,
        "seconds": round(time.time() - started, 1),
        "load_average_1m": {"start": load_start, "end": os.getloadavg()[0]},
    }
    (ROOT / "bench" / "results" / "served_accuracy.json").write_text(
        json.dumps(result, indent=2) + "\n"
    )
    print(json.dumps({k: result[k] for k in ("served", "seconds")}, indent=2))


if __name__ == "__main__":
    main()
