"""Where issue 11's h1 target lies: the months at 0, and what fits of the transit counts reach.

Issue 11 asks AvgRelMAE at most 0.85 at horizon 1 over the southwest series of
every nationality with a transit indicator (``bench/indicators.py``, whose
forecasts this reads). A target scores ``max(|y - f|, 1) / max(|y - y0|, 1)``.
Where the series stood at 0 at the origin (the workbook leaves out cells under
5), no candidate scores below 1, nor does the per-target hindsight pick, so the
target asks the other targets for a geometric mean of ``0.85 ** (n /
n_above_zero)``.

Beside the bench's forecasts, per series:

* ``lad_asof``: a least-absolute-deviations fit of the h1 log1p change on the
  series' own last change and each source's log1p change over the months
  public at the origin, fitted as of each origin on the months since 2018
  whose target had passed: an honest forecast;
* ``lad_known``, ``lad_oracle``, ``ols_oracle``: the same fitted on the very
  targets they are scored on, ``oracle`` with the sources' months up to the
  target month itself, which no forecast could read;
* ``hindsight_best``: per target, whichever of the bench's forecasts (or the
  random walk) came closest.

The in-sample fits are no ceiling: a least-absolute-deviations fit passes
through (or near) about as many targets as it has coefficients, and an exact hit scores
``1 / |y - y0|``. What they show is where the transit counts are silent even
with hindsight: the months at 0.

Run: ``.venv/bin/python bench/indicators.py`` first (it leaves
``forecasts.pkl`` beside its store), then ``.venv/bin/python
bench/indicator_ceiling.py [--db PATH]``; writes
``bench/results/indicator_ceiling.json``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from indicators import FILES, FIRST_ORIGIN, rel
from statsmodels.regression.quantile_regression import QuantReg
from stores import bundled_store

from forecasting.indicators import indicator_frame, publication_lags, source_of
from forecasting.intervals import size_class
from forecasting.leading import SOURCES, citizenship_indicators

ROOT = Path(__file__).resolve().parent.parent
TARGET = 0.85
CANDIDATES = ("without", "indicator", "blend", "relay", "served")
#: The hindsight fits of :func:`ceilings`.
FITS = ("ols_oracle", "lad_known", "lad_oracle")
#: First month of the history ``lad_asof`` learns from.
HISTORY_FROM = pd.Timestamp("2018-01-01")
#: Fewest passed targets before ``lad_asof`` fits (else the random walk).
MIN_ROWS = 12
#: Months of the target month back to the indicator change a feature reads.
OFFSETS = (0, 1, 2)


def features(h1: pd.DataFrame, series: pd.DataFrame, ind: pd.DataFrame) -> pd.DataFrame:
    """Per h1 target: its own last log1p change and each source's at each offset.

    Column ``{source}@{k}`` is the source's log1p change into month
    ``target - k``; a month the source did not report reads 0.
    """
    level = np.log1p(series.set_index("ds")["y"])
    cutoff = pd.DatetimeIndex(h1["cutoff"])
    prev = cutoff - pd.DateOffset(months=1)
    out = pd.DataFrame(index=h1.index)
    out["own"] = (np.log1p(h1["y_cutoff"]).to_numpy() - level.reindex(prev).to_numpy()).astype(
        float
    )
    for source in SOURCES:
        rows = ind[ind["unique_id"].str.startswith(f"{source}:")]
        log = np.log1p(rows.set_index("ds")["y"])
        for k in OFFSETS:
            month = cutoff + pd.DateOffset(months=1 - k)
            before = month - pd.DateOffset(months=1)
            change = log.reindex(month).to_numpy() - log.reindex(before).to_numpy()
            out[f"{source}@{k}"] = change
    return out.fillna(0.0)


def public(column: str) -> bool:
    """Whether a feature's month was public at the origin (the target month is origin + 1).

    The lags are those in force, as :func:`~forecasting.indicators.known_at` reads them.
    """
    if column == "own":
        return True
    source, k = column.split("@")
    return int(k) - 1 >= publication_lags()[source_of(source)]


def coefficients(x: pd.DataFrame, target: np.ndarray, median: bool) -> np.ndarray:
    """Intercept and slopes of the log1p change on ``x``: least squares, or least deviations."""
    design = np.column_stack([np.ones(len(x)), x.to_numpy()])
    if not (median and target.any()):
        return np.linalg.lstsq(design, target, rcond=None)[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # QuantReg's iteration warnings on flat series
        return QuantReg(target, design).fit(q=0.5, max_iter=5000).params


def counts(rows: pd.DataFrame, x: pd.DataFrame, beta: np.ndarray) -> np.ndarray:
    """The forecast counts of a fit: the last value moved by the fitted log1p change."""
    move = np.column_stack([np.ones(len(x)), x.to_numpy()]) @ beta
    return np.clip(np.expm1(np.log1p(rows["y_cutoff"].to_numpy()) + move), 0.0, None)


def change(rows: pd.DataFrame) -> np.ndarray:
    return np.log1p(rows["y"].to_numpy()) - np.log1p(rows["y_cutoff"].to_numpy())


def in_sample(rows: pd.DataFrame, x: pd.DataFrame, median: bool = False) -> np.ndarray:
    """A fit's counts on the very rows it was fitted on."""
    return counts(rows, x, coefficients(x, change(rows), median))


def pairs(series: pd.DataFrame) -> pd.DataFrame:
    """Every month-to-next-month pair of a series since :data:`HISTORY_FROM`."""
    s = series[series["ds"] >= HISTORY_FROM].sort_values("ds")
    out = pd.DataFrame(
        {"cutoff": s["ds"].iloc[:-1].to_numpy(), "y_cutoff": s["y"].iloc[:-1].to_numpy()}
    )
    out["y"] = s["y"].iloc[1:].to_numpy()
    following = pd.DatetimeIndex(s["ds"].iloc[1:].to_numpy())
    return out[following == pd.DatetimeIndex(out["cutoff"]) + pd.DateOffset(months=1)]


def as_of(part: pd.DataFrame, series: pd.DataFrame, ind: pd.DataFrame) -> np.ndarray:
    """``lad_asof``: at each origin, a fit on the pairs whose target month had passed."""
    history = pairs(series).reset_index(drop=True)
    x = features(history, series, ind)
    x = x[[c for c in x.columns if public(c)]]
    out = part["y_cutoff"].to_numpy(dtype=float).copy()
    for i, origin in enumerate(part["cutoff"]):
        passed = (history["cutoff"] < origin).to_numpy()
        now = (history["cutoff"] == origin).to_numpy()
        if passed.sum() < MIN_ROWS or not now.any():
            continue
        beta = coefficients(x[passed], change(history[passed]), median=True)
        out[i] = counts(history[now], x[now], beta)[0]
    return out


def ceilings(h1: pd.DataFrame, store, ind_all: pd.DataFrame) -> pd.DataFrame:
    """The h1 targets with the fits and the hindsight pick beside the bench's forecasts."""
    parts = []
    for uid, part in h1.groupby("unique_id"):
        series = store.series_frame([uid])
        ind = citizenship_indicators(ind_all, uid.split(":")[0])
        x = features(part, series, ind)
        known = x[[c for c in x.columns if public(c)]]
        parts.append(
            part.assign(
                lad_asof=as_of(part, series, ind),
                ols_oracle=in_sample(part, x),
                lad_known=in_sample(part, known, median=True),
                lad_oracle=in_sample(part, x, median=True),
            )
        )
    out = pd.concat(parts)
    out["hindsight_best"] = best_of(out, CANDIDATES)
    return out


def best_of(fc: pd.DataFrame, cols) -> pd.Series:
    """Per row, the forecast among ``cols`` (and the random walk) closest to the count."""
    options = fc[[*cols, "y_cutoff"]]
    closest = options.sub(fc["y"], axis=0).abs().idxmin(axis=1)
    return pd.Series(
        options.to_numpy()[np.arange(len(fc)), options.columns.get_indexer(closest)], fc.index
    )


def summary(fc: pd.DataFrame, cols) -> dict:
    """Each column's score over all h1 targets, by count at the origin, and what 0.85 needs.

    No candidate scores below 1 on the rows at 0, nor does the per-target
    hindsight pick, so the target leaves the rows above 0 a geometric mean of
    ``0.85 ** (n / n_above)``.
    """
    zero = fc["y_cutoff"] == 0
    groups = {"all": fc, "at_zero": fc[zero], "above_zero": fc[~zero]}
    size = pd.Series(size_class(fc["y_cutoff"].to_numpy()), fc.index)
    for k, name in enumerate(("0", "1-9", "10-99", "100-999", "1000+")):
        if name != "0" and (size == k).any():
            groups[name] = fc[size == k]
    return {
        "targets": {name: len(g) for name, g in groups.items()},
        "series": {name: g["unique_id"].nunique() for name, g in groups.items()},
        "unmoved_share": {
            name: round(float(((g["y"] - g["y_cutoff"]).abs() <= 1).mean()), 4)
            for name, g in groups.items()
        },
        "above_zero_needs": round(TARGET ** (len(fc) / (~zero).sum()), 4),
        "scores": {c: {name: rel(g, c) for name, g in groups.items()} for c in cols},
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default="/tmp/bordercast-indicators/full.db")
    args = parser.parse_args()
    started = time.time()
    db = Path(args.db)
    pickle = db.parent / "forecasts.pkl"
    if not pickle.exists():
        raise SystemExit(f"{pickle} is missing: run bench/indicators.py --db {db} first")
    fc = pd.read_pickle(pickle)
    h1 = fc[(fc["cutoff"] >= FIRST_ORIGIN) & (fc["h"] == 1)].copy()
    store = bundled_store(db, FILES)
    out = ceilings(h1, store, indicator_frame(store))
    cols = [*CANDIDATES, "lad_asof", *FITS, "hindsight_best"]
    china = out[out["unique_id"].str.startswith("CN:")]
    result = {
        "protocol": "bench/indicators.py, h1, origins from " + FIRST_ORIGIN.strftime("%Y-%m"),
        "publication_lag": publication_lags(),
        "overall": summary(out, cols),
        "china": {c: rel(china, c) for c in cols},
        "seconds": round(time.time() - started, 1),
    }
    path = ROOT / "bench" / "results" / "indicator_ceiling.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
