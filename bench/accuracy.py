"""Reproduce issue 9's accuracy protocol and print the table with Bordercast's row.

Protocol: the bundled OHSS workbook, southwest border, USBP, the 20 largest
citizenships since FY2019, origins every 3 months from 2016-01 to 2024-05 (the
origin month is in the training data), horizons 1-6. AvgRelMAE is the
geometric mean over series and origins of MAE(model) / MAE(random walk).
Intervals are calibrated as of each origin from errors whose target month had
passed (pooled over the 20 series, warm-up origins from 2012; the Prophet rows
have no warm-up, so their first origins keep uncalibrated intervals).

Rows: the random walk, seasonal naive, statsforecast's DynamicOptimizedTheta
(``theta``), AutoETS (``ets``) and AutoARIMA (``arima``, defaults), each on
log1p counts over the last 120 months with season 12 (from 24 months), the
global model (boosted trees, and the linear ridge it replaced) and Bordercast,
also with the ridge global model and with its forecasts left off the
reporting grid (the two changes of stop 14); ``--prophet`` adds the Prophet
rows. ``by_rule`` in the JSON scores them apart on the series-origins that
were sparse (listed in ``sparse_at``) and on the rest. Every row
comes from the same run. The 1-minute load average at start and end goes into
the JSON (the machine's two cores are shared).

Run: ``.venv/bin/python bench/accuracy.py [--prophet] [--jobs 2]``; writes
``bench/results/accuracy.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from forecasting import models as m  # noqa: E402
from forecasting.backtest import cross_validate, summarize  # noqa: E402
from forecasting.intervals import calibrate_cv  # noqa: E402
from forecasting.policy import load_events  # noqa: E402
from forecasting.readers import read  # noqa: E402

WORKBOOK = "ohss-khsm-usbp-encounters-fy2000-fy2025.xlsx"
ORIGINS = pd.date_range("2016-01-01", "2024-05-01", freq="3MS")
WARMUP = pd.date_range("2012-01-01", "2015-12-01", freq="3MS")
HORIZON = 6


def workbook_frame() -> pd.DataFrame:
    """The long frame of every OHSS series (as the store will return it)."""
    for path in (ROOT / "data" / WORKBOOK, ROOT.parent / "shared" / "data" / WORKBOOK):
        if path.exists():
            counts = read(path.name, path.read_bytes()).counts
            break
    else:
        raise SystemExit(f"{WORKBOOK} not found under data/ or ../shared/data/")
    uid = counts["citizenship"] + ":" + counts["region"] + ":" + counts["component"]
    frame = pd.DataFrame({"unique_id": uid, "ds": counts["month"], "y": counts["count"] * 1.0})
    return frame.sort_values(["unique_id", "ds"]).reset_index(drop=True)


def protocol_ids(frame: pd.DataFrame, n: int = 20, suffix: str = ":southwest:usbp") -> list[str]:
    """The ``n`` largest citizenships since FY2019 among the series ending in ``suffix``."""
    sw = frame[frame["unique_id"].str.endswith(suffix)]
    sw = sw[~sw["unique_id"].str.startswith("ALL:") & (sw["ds"] >= "2018-10-01")]
    return sw.groupby("unique_id")["y"].sum().nlargest(n).index.tolist()


def factories(frame: pd.DataFrame) -> dict:
    """Candidate models; the global model is fitted as of each cutoff on every series."""
    cutoffs = WARMUP.append(ORIGINS)
    boosted = global_models(frame, cutoffs, m.GlobalBoosted)
    ridge = global_models(frame, cutoffs, m.GlobalRidge)
    return {
        "rw": lambda u, c: m.RandomWalk(),
        "snaive": lambda u, c: m.SeasonalNaive(),
        "ets": lambda u, c: m.StatsForecastModel("ets"),
        "theta": lambda u, c: m.StatsForecastModel("theta"),
        "arima": lambda u, c: m.StatsForecastModel("arima"),
        "global": lambda u, c: m.GlobalMember(boosted[c]),
        "global (ridge)": lambda u, c: m.GlobalMember(ridge[c]),
        "bordercast": lambda u, c: m.served_model(u, c, frame, boosted[c]),
        "bordercast, ridge global": lambda u, c: m.served_model(u, c, frame, ridge[c]),
        "bordercast, off the grid": lambda u, c: off_grid(m.served_model(u, c, frame, boosted[c])),
    }


def global_models(frame: pd.DataFrame, cutoffs, kind) -> dict:
    """The global model as of each cutoff, fitted on every series (two processes)."""
    fits = Parallel(n_jobs=2)(
        delayed(kind(max_h=HORIZON).fit)(frame[frame["ds"] <= c]) for c in cutoffs
    )
    return dict(zip(cutoffs, fits, strict=True))


def off_grid(model: m.LogModel) -> m.LogModel:
    """The same model with its forecasts left off the reporting grid (as before stop 14)."""
    model.snap = False
    return model


def prophet_factories(frame: pd.DataFrame) -> dict:
    """Prophet alone (its change anchored on the last value) and inside the combination."""
    events = load_events(ROOT / "data" / "policy_events.yaml")
    fitted = global_models(frame, ORIGINS, m.GlobalBoosted)
    return {
        "prophet (anchored change)": lambda u, c: m.ProphetModel(events),
        "bordercast+prophet": lambda u, c: m.served_model(u, c, frame, fitted[c], events),
    }


def sparse_origins(frame: pd.DataFrame, cv: pd.DataFrame) -> pd.Series:
    """Whether each row's series was sparse at its origin, so Bordercast served the median rule."""
    keys = cv[["unique_id", "cutoff"]].drop_duplicates()
    by_id = {u: g for u, g in frame.groupby("unique_id")}
    flags = {
        (u, c): m.is_sparse(by_id[u].loc[by_id[u]["ds"] <= c, "y"].to_numpy())
        for u, c in zip(keys["unique_id"], keys["cutoff"], strict=True)
    }
    return pd.Series([flags[k] for k in zip(cv["unique_id"], cv["cutoff"], strict=True)], cv.index)


def by_rule(frame: pd.DataFrame, cv: pd.DataFrame) -> dict:
    """AvgRelMAE apart on the series-origins served by the sparse rule and on the rest.

    Says where Bordercast's edge over the random walk comes from: a model that
    wins only on near-empty series ties the random walk where counts matter.
    """
    sparse = sparse_origins(frame, cv)
    pairs = cv.loc[sparse, ["unique_id", "cutoff"]].drop_duplicates()
    out: dict = {
        "sparse_at": {
            u: sorted(f"{c:%Y-%m}" for c in g["cutoff"]) for u, g in pairs.groupby("unique_id")
        }
    }
    for label, rows in (("sparse rule", cv[sparse]), ("the rest", cv[~sparse])):
        table = summarize(rows)
        cols = ["rel_mae", *[f"rel_mae_h{h}" for h in range(1, HORIZON + 1)], "n_origins"]
        out[label] = table[cols].round(4).to_dict("index")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prophet", action="store_true", help="include Prophet (slow)")
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    started = time.time()
    load_start = os.getloadavg()[0]
    frame = workbook_frame()
    ids = protocol_ids(frame)
    sub = frame[frame["unique_id"].isin(ids)]
    cv = cross_validate(sub, factories(frame), WARMUP.append(ORIGINS), HORIZON, n_jobs=args.jobs)
    if args.prophet:
        extra = cross_validate(sub, prophet_factories(frame), ORIGINS, HORIZON, n_jobs=args.jobs)
        cv = pd.concat([cv, extra], ignore_index=True)
    load_end = os.getloadavg()[0]
    cv = calibrate_cv(cv)
    cv = cv[cv["cutoff"] >= ORIGINS[0]]
    table = summarize(cv)
    cols = ["rel_mae", *[f"rel_mae_h{h}" for h in range(1, HORIZON + 1)], "worst_h"]
    cols += ["mase", "smape", "cov-80", "cov-95"]
    pd.set_option("display.width", 200)
    print(table[cols].round(3).to_string())
    rules = by_rule(frame, cv)
    for label, part in rules.items():
        if label == "sparse_at":
            continue
        rows = {k: v["rel_mae"] for k, v in part.items() if k in ("bordercast", "rw", "theta")}
        n = part["bordercast"]["n_origins"]
        print(f"{label} ({n} series-origins): AvgRelMAE {rows}")
    print(
        f"{len(ids)} series x {len(ORIGINS)} origins, {time.time() - started:.0f} s, "
        f"load average (1 min) {load_start:.2f} at start, {load_end:.2f} after the backtests"
    )
    out = ROOT / "bench" / "results" / "accuracy.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "protocol": {
            "series": ids,
            "origins": [f"{o:%Y-%m}" for o in ORIGINS],
            "horizons": HORIZON,
            "intervals": "calibrated as of each origin from passed errors (intervals.calibrate_cv)",
        },
        "options": {"prophet": args.prophet, "jobs": args.jobs},
        "models": table[[*cols, "n_origins"]].round(4).reset_index().to_dict("records"),
        "by_rule": rules,
        "seconds": round(time.time() - started, 1),
        "load_average_1m_at_start": round(load_start, 2),
        "load_average_1m_after_backtests": round(load_end, 2),
    }
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
