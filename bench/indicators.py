"""Reproduce issue 11's indicator protocol: with vs without transit indicators.

Protocol: a store of the bundled OHSS workbook, the two CBP state releases and
the three transit files; the southwest USBP series (OHSS, to Nov 2024) of
every citizenship with a transit indicator (Darién, Mexico's irregular
migrants, regular entries into Ecuador; ``ALL`` and ``OTHER`` left out);
forecast origins every month from 2021-01 to the month before the data's end;
horizons 1-3. USBP is the series the issue's own figures are from (China,
September-December 2022: 390, 410, 520, 930; the CBP ``all`` series, USBP +
OFO to Nov 2025, reads 399, 430, 534, 950); ``--component all`` reruns the
protocol on those, as measured before stop 14. AvgRelMAE (geometric mean over series
and origins of MAE(model) / MAE(random walk)) per horizon, overall, per
citizenship and for China alone, and in the per-series reading
(:func:`rel_per_series`), for the counts a served model would give (the
change on the series' reporting grid, as ``LogModel.predict``) of:

* ``without``: the served combination (:class:`~forecasting.models.Bordercast`
  with the global model fitted as of each origin on every southwest series);
* ``indicator``: :class:`~forecasting.leading.IndicatorModel` alone;
* ``blend``: the mean of the two changes where an indicator leads, else ``without``;
* ``relay``: :class:`~forecasting.relay.Relay` where an indicator qualifies,
  else ``without``;
* ``served``: per series and horizon, ``without``, ``blend`` or ``relay`` as
  chosen as of each origin (:func:`~forecasting.leading.choice_from_errors`)
  from the forecasts of earlier origins (from 2020-10) whose target month had
  passed: what a training with indicators would have served.

Everything is as of the origin: encounters up to it, indicator months public
then (``PUBLICATION_LAG``), leads measured and regressions fitted on those.

Run: ``.venv/bin/python bench/indicators.py [--db PATH] [--jobs 2]
[--component usbp|all]``; writes ``bench/results/indicators[-all].json``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from stores import bundled_store  # noqa: E402

from forecasting import models as m  # noqa: E402
from forecasting import relay  # noqa: E402
from forecasting.indicators import PUBLICATION_LAG, indicator_frame  # noqa: E402
from forecasting.leading import (  # noqa: E402
    CANDIDATES,
    Candidates,
    choice_from_errors,
    citizenship_indicators,
    known_at,
)
from forecasting.training import fit_global  # noqa: E402

FILES = (
    "ohss-khsm-usbp-encounters-fy2000-fy2025.xlsx",
    "cbp-nationwide-encounters-fy20-fy23-state.csv",
    "cbp-nationwide-encounters-fy23-fy26-nov-state.csv",
    "transit/mexico-irregular-migrants-by-nationality.csv",
    "transit/panama-darien-irregular-transit-by-nationality.csv",
    "transit/regular-entries-by-nationality.csv",
)
FIRST_ORIGIN = pd.Timestamp("2021-01-01")
WARMUP_FROM = pd.Timestamp("2020-10-01")
HORIZON = 3


def _forecasts(uid, series, ind, globals_, origins) -> list[dict]:
    """Every origin's forecasts of one series: each candidate, as served."""
    series = series.reset_index(drop=True)
    y = series["y"].to_numpy(dtype=float)
    ds = pd.DatetimeIndex(series["ds"])
    rows = []
    for origin in origins:
        if origin not in ds:
            continue
        t = ds.get_loc(origin)
        if t + 1 >= len(y):
            continue
        history = series.iloc[: t + 1]
        fitted = Candidates(history, known_at(ind, origin), m.Bordercast(globals_.get(origin)))
        points = {c: fitted.model(c).point(HORIZON) for c in ("without", *CANDIDATES)}
        points["indicator"] = fitted.blend.indicator.point(HORIZON)
        used, relayed = fitted.blend.indicator.used_, fitted.relay.news_
        for k in range(1, min(HORIZON, len(y) - 1 - t) + 1):
            rows.append(
                {
                    "unique_id": uid,
                    "cutoff": origin,
                    "ds": ds[t + k],
                    "h": k,
                    "y": y[t + k],
                    "y_cutoff": y[t],
                    **{c: p[k - 1] for c, p in points.items()},
                    **{f"active_{c}": on for c, on in fitted.active.items()},
                    "used": ",".join(f"{i}@{r['lead_months']}" for i, r in used.items()),
                    "relayed": ",".join(f"{i}@{r['lead_months']}" for i, r in relayed.items()),
                }
            )
    return rows


def with_choice(fc: pd.DataFrame) -> pd.DataFrame:
    """Add ``pick`` and ``served``: per series and horizon, the candidate chosen at the origin."""
    fc = fc.copy()
    for c in ("without", *CANDIDATES):
        fc[f"ae_{c}"] = (fc["y"] - fc[c]).abs()
    fc["pick"] = "without"
    for _uid, part in fc.groupby("unique_id"):
        for origin in sorted(part["cutoff"].unique()):
            here = part[part["cutoff"] == origin]
            past = part[part["cutoff"] < origin]
            if past.empty:
                continue
            available = [c for c in CANDIDATES if here[f"active_{c}"].iloc[0]]
            choice = choice_from_errors(past, pd.Timestamp(origin), available=available)
            for k, c in choice.items():
                fc.loc[here.index[here["h"] == k], "pick"] = c["pick"]
    picks = fc["pick"].to_numpy()
    fc["served"] = np.choose(
        pd.Categorical(picks, categories=["without", *CANDIDATES]).codes,
        [fc[c].to_numpy() for c in ("without", *CANDIDATES)],
    )
    return fc


def rel(fc: pd.DataFrame, col: str) -> float:
    lr = np.log(
        (fc["y"] - fc[col]).abs().clip(lower=1.0) / (fc["y"] - fc["y_cutoff"]).abs().clip(lower=1.0)
    )
    return round(float(np.exp(lr.mean())), 4)


def rel_per_series(fc: pd.DataFrame, col: str) -> float:
    """The other common reading (Davydenko and Fildes): MAE over each series' origins, then
    the geometric mean of the ratios over series, weighted by their targets. A month equal
    to the last value then costs nothing by itself; series the random walk forecast without
    error are left out."""
    err = fc.assign(m=(fc["y"] - fc[col]).abs(), r=(fc["y"] - fc["y_cutoff"]).abs())
    per = err.groupby("unique_id")[["m", "r"]].agg(["mean", "size"])
    ok = (per[("r", "mean")] > 0) & (per[("m", "mean")] > 0)
    lr = np.log(per.loc[ok, ("m", "mean")] / per.loc[ok, ("r", "mean")])
    n = per.loc[ok, ("m", "size")]
    return round(float(np.exp((lr * n).sum() / n.sum())), 4)


def table(fc: pd.DataFrame, cols, score=rel) -> dict:
    out: dict = {}
    for col in cols:
        out[col] = {f"h{k}": score(fc[fc["h"] == k], col) for k in range(1, HORIZON + 1)}
        out[col]["all"] = score(fc, col)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="/tmp/bordercast-indicators/full.db")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--component", choices=("usbp", "all"), default="usbp")
    args = parser.parse_args()
    started = time.time()
    db = Path(args.db)
    store = bundled_store(db, FILES)
    frame = store.series_frame(region="southwest", component=args.component)
    ind_all = indicator_frame(store)
    end = frame["ds"].max()
    origins = pd.date_range(WARMUP_FROM, end - pd.DateOffset(months=1), freq="MS")
    scored = origins[origins >= FIRST_ORIGIN]
    series = {}
    for uid, g in frame.groupby("unique_id"):
        code = uid.split(":")[0]
        if code in ("ALL", "OTHER"):
            continue
        ind = citizenship_indicators(ind_all, code)
        if not ind.empty:
            series[uid] = (g, ind)
    glob_frame = store.series_frame(region="southwest")
    globals_ = {o: fit_global(glob_frame[glob_frame["ds"] <= o], HORIZON) for o in origins}
    parts = Parallel(n_jobs=args.jobs)(
        delayed(_forecasts)(uid, g, ind, globals_, origins) for uid, (g, ind) in series.items()
    )
    fc = pd.DataFrame([r for p in parts for r in p])
    fc = with_choice(fc)
    ev = fc[fc["cutoff"] >= FIRST_ORIGIN]
    cols = ["without", "indicator", *CANDIDATES, "served"]
    per_series = {
        uid.split(":")[0]: table(part, cols)["served"] | {"without": table(part, cols)["without"]}
        for uid, part in ev.groupby("unique_id")
    }
    china = ev[ev["unique_id"] == f"CN:southwest:{args.component}"]
    overall, cn = table(ev, cols), table(china, cols)
    targets = {
        "served_h1_at_most_0.85": overall["served"]["h1"] <= 0.85,
        "china_served_h1_at_most_0.75": cn["served"]["h1"] <= 0.75,
        "served_no_worse_than_without_every_h": all(
            overall["served"][f"h{k}"] <= overall["without"][f"h{k}"] for k in range(1, 4)
        ),
    }
    picks = ev.groupby("h")["pick"].value_counts(normalize=True).round(3)
    result = {
        "protocol": {
            "component": args.component,
            "series": sorted(series),
            "origins": [scored[0].strftime("%Y-%m"), scored[-1].strftime("%Y-%m")],
            "choice_warmup_from": WARMUP_FROM.strftime("%Y-%m"),
            "horizons": HORIZON,
            "publication_lag": PUBLICATION_LAG,
            "relay": {"elasticity": relay.ELASTICITY, "leads": relay.LEADS},
            "targets_scored": len(ev),
        },
        "overall": overall,
        "china": cn,
        "per_series_reading": {
            "overall": table(ev, cols, rel_per_series),
            "china": table(china, cols, rel_per_series),
        },
        "per_citizenship": per_series,
        "share_picked": {f"h{k}": picks[k].to_dict() for k in range(1, HORIZON + 1)},
        "targets_met": targets,
        "seconds": round(time.time() - started, 1),
    }
    suffix = "" if args.component == "usbp" else f"-{args.component}"
    out = ROOT / "bench" / "results" / f"indicators{suffix}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    keys = ("overall", "china", "per_series_reading", "targets_met", "seconds")
    print(json.dumps({k: result[k] for k in keys}, indent=2))
    fc.to_pickle(db.parent / "forecasts.pkl")


if __name__ == "__main__":
    main()
