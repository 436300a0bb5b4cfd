"""Training speed: ``bordercast train`` on the full store, against AutoETS, AutoARIMA, Prophet.

Run by hand: ``.venv/bin/python bench/train.py [--db /tmp/perf/full.db]
[--arima-sample 64]``. Builds the store from the four bundled files when
``--db`` does not exist yet, then times in one run:

* ``forecasting.training.train`` on every series with ``workers=1`` and
  ``workers=2`` (plan seconds, fit + commit seconds, total, per trained series);
* statsforecast ``AutoETS`` (season 12 with two years of history) fitted and
  forecast 12 months on every live series' contiguous history, one process;
* statsforecast ``AutoARIMA`` (defaults, season as for AutoETS) on the same
  histories and in the same way, on a random sample of ``--arima-sample``
  series (seed 0; ``0`` means every series: about half an hour here). Its
  per-series cost is extrapolated to all series, and AutoETS's time on the
  same sample (taken from the AutoETS pass) is given beside it;
* Prophet with defaults (``uncertainty_samples=0``) on a sample of 30 of the
  same series, its per-series cost extrapolated to all of them.

Both statsforecast models see raw counts and the whole history, as a user
calling them directly would; Bordercast's own Theta member sees log1p counts
over the last 120 months.

Prints a table and writes ``bench/results/train.json``, with the 1-minute load
average at start and end (other work shares the two cores). Models are written
under ``BORDERCAST_MODEL_DIR`` (default ``/tmp/perf/models`` here).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

os.environ.setdefault("BORDERCAST_MODEL_DIR", "/tmp/perf/models")

from stores import bundled_store

from forecasting import models, training
from forecasting.store import Store

ROOT = Path(__file__).resolve().parent.parent
FILES = (
    "ohss-khsm-usbp-encounters-fy2000-fy2025.xlsx",
    "cbp-sw-border-encounters-fy22-fy25-aug.csv",
    "cbp-nationwide-encounters-fy20-fy23-state.csv",
    "cbp-nationwide-encounters-fy23-fy26-nov-state.csv",
)
PROPHET_SAMPLE = 30
ARIMA_SAMPLE = 64
ARIMA_SEED = 0


def live_histories(store: Store) -> dict[str, pd.DataFrame]:
    """The histories ``train`` fits: each live series' last unbroken run of months."""
    frame = training.contiguous(store.series_frame())
    last = frame.groupby("unique_id")["ds"].max()
    newest = models.sources_newest(frame)
    live = {u for u in last.index if last[u] >= newest[u]}
    return {
        str(u): g[["ds", "y"]].reset_index(drop=True)
        for u, g in frame.groupby("unique_id")
        if u in live
    }


def time_train(store: Store, workers: int) -> dict[str, float]:
    models._FIT_CACHE.clear()  # no run starts with another's fits
    started = time.perf_counter()
    summary = training.train(store, workers=workers)
    total = time.perf_counter() - started
    n = summary["trained"]
    plan = summary["seconds"]["plan"]
    return {
        "workers": workers,
        "series": n,
        "failed": len(summary["failed"]),
        "chosen": summary["chosen"],
        "plan_s": round(plan, 1),
        "fit_commit_s": round(total - plan, 1),
        "total_s": round(total, 1),
        "per_series_ms": round(1000 * total / max(n, 1), 1),
    }


def fit_seconds(model_class, histories: dict[str, pd.DataFrame]) -> tuple[dict[str, float], int]:
    """Seconds to fit and forecast 12 months per series, and how many fits failed.

    Raw counts, whole history, season 12 with two years of it (else 1).
    """
    seconds, failed = {}, 0
    for uid, history in histories.items():
        y = history["y"].to_numpy(dtype=float)
        season = 12 if len(y) >= 24 else 1
        started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model_class(season_length=season).forecast(y=y, h=12)
        except Exception:  # degenerate series; counted, not timed apart
            failed += 1
        seconds[uid] = time.perf_counter() - started
    return seconds, failed


def time_autoets(histories: dict[str, pd.DataFrame]) -> tuple[dict[str, float], dict[str, float]]:
    """The AutoETS row, and its seconds per series (for the AutoARIMA sample)."""
    from statsforecast.models import AutoETS

    seconds, failed = fit_seconds(AutoETS, histories)
    total = sum(seconds.values())
    n = len(histories)
    row = {
        "series": n,
        "failed": failed,
        "total_s": round(total, 1),
        "per_series_ms": round(1000 * total / n, 1),
    }
    return row, seconds


def time_autoarima(
    histories: dict[str, pd.DataFrame], ets_seconds: dict[str, float], n: int = ARIMA_SAMPLE
) -> dict[str, float]:
    """AutoARIMA on ``n`` series drawn with seed ``ARIMA_SEED`` (every series if ``n`` is 0)."""
    from statsforecast.models import AutoARIMA

    ids = sorted(histories)
    if 0 < n < len(ids):
        rng = np.random.default_rng(ARIMA_SEED)
        ids = [ids[i] for i in sorted(rng.choice(len(ids), size=n, replace=False))]
    seconds, failed = fit_seconds(AutoARIMA, {u: histories[u] for u in ids})
    total = sum(seconds.values())
    ms = 1000 * np.array(list(seconds.values()))
    ets_same = sum(ets_seconds[u] for u in ids)
    return {
        "series": len(ids),
        "sampled": len(ids) < len(histories),
        "seed": ARIMA_SEED,
        "failed": failed,
        "total_s": round(total, 1),
        "per_series_ms": round(float(ms.mean()), 1),
        "per_series_ms_sd": round(float(ms.std(ddof=1)), 1) if len(ms) > 1 else None,
        "autoets_same_series_s": round(ets_same, 1),
        "times_autoets_same_series": round(total / ets_same, 1) if ets_same else None,
        "extrapolated_all_s": round(total / len(ids) * len(histories), 1),
        "extrapolated_series": len(histories),
    }


def time_prophet(histories: dict[str, pd.DataFrame], n: int = PROPHET_SAMPLE) -> dict[str, float]:
    from prophet import Prophet

    logging.getLogger("cmdstanpy").setLevel(logging.WARNING)
    logging.getLogger("prophet").setLevel(logging.WARNING)
    rng = np.random.default_rng(0)
    ids = sorted(histories)
    sample = [ids[i] for i in sorted(rng.choice(len(ids), size=min(n, len(ids)), replace=False))]
    started = time.perf_counter()
    for uid in sample:
        m = Prophet(uncertainty_samples=0)
        m.fit(histories[uid])
        m.predict(m.make_future_dataframe(periods=12, freq="MS"))
    total = time.perf_counter() - started
    per = total / len(sample)
    return {
        "sample": len(sample),
        "sample_s": round(total, 1),
        "per_series_ms": round(1000 * per, 1),
        "extrapolated_all_s": round(per * len(histories), 1),
        "extrapolated_series": len(histories),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=Path("/tmp/perf/full.db"))
    parser.add_argument("--no-prophet", action="store_true")
    parser.add_argument(
        "--arima-sample",
        type=int,
        default=ARIMA_SAMPLE,
        help=f"series to fit AutoARIMA on, seed {ARIMA_SEED}; 0 for all (default {ARIMA_SAMPLE})",
    )
    args = parser.parse_args()
    if args.arima_sample < 0:
        parser.error(f"--arima-sample must be >= 0, got {args.arima_sample}")
    logging.basicConfig(level=logging.WARNING)
    load_start = os.getloadavg()[0]
    store = bundled_store(args.db, FILES)
    histories = live_histories(store)
    import statsforecast.models  # noqa: F401  imported once, outside every timing

    runs = [time_train(store, 1), time_train(store, 2)]
    ets, ets_seconds = time_autoets(histories)
    arima = time_autoarima(histories, ets_seconds, args.arima_sample)
    prophet = None if args.no_prophet else time_prophet(histories)
    load_end = os.getloadavg()[0]

    print(f"\nbordercast train on {args.db} ({len(histories)} live series, {os.cpu_count()} cores)")
    print(f"{'run':<28}{'plan s':>9}{'fit s':>9}{'total s':>9}{'ms/series':>11}")
    for r in runs:
        name = f"train workers={r['workers']}"
        print(
            f"{name:<28}{r['plan_s']:>9}{r['fit_commit_s']:>9}{r['total_s']:>9}"
            f"{r['per_series_ms']:>11}"
        )
    print(
        f"{'AutoETS, every series':<28}{'':>9}{'':>9}{ets['total_s']:>9}{ets['per_series_ms']:>11}"
    )
    name = f"AutoARIMA, {arima['series']} series" if arima["sampled"] else "AutoARIMA, every series"
    print(f"{name:<28}{'':>9}{'':>9}{arima['total_s']:>9}{arima['per_series_ms']:>11}")
    if arima["sampled"]:
        print(
            f"  AutoARIMA extrapolated to {arima['extrapolated_series']} series: "
            f"{arima['extrapolated_all_s']} s (sampled per-series cost x series, not measured; "
            f"sd {arima['per_series_ms_sd']} ms per series)"
        )
    print(
        f"  AutoETS on the same {arima['series']} series: {arima['autoets_same_series_s']} s "
        f"(AutoARIMA {arima['times_autoets_same_series']}x)"
    )
    if prophet:
        name = f"Prophet, {prophet['sample']} series"
        print(f"{name:<28}{'':>9}{'':>9}{prophet['sample_s']:>9}{prophet['per_series_ms']:>11}")
        print(
            f"  Prophet extrapolated to {prophet['extrapolated_series']} series: "
            f"{prophet['extrapolated_all_s']} s (sampled per-series cost x series, not measured)"
        )
    out = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "python": platform.python_version(),
            "cores": os.cpu_count(),
            "load_average_1m_at_start": round(load_start, 2),
            "load_average_1m_at_end": round(load_end, 2),
        },
        "store": str(args.db),
        "live_series": len(histories),
        "train": runs,
        "autoets": ets,
        "autoarima": arima,
        "prophet": prophet,
        "notes": (
            "fit_commit_s is total minus plan: the per-series fits and the registry commit. "
            "AutoETS and AutoARIMA: raw counts, whole contiguous history, season 12 with two "
            "years of it, 12-month forecast, one process. AutoARIMA ran on a random sample "
            "(seed 0) when sampled is true; its all-series figure, like Prophet's, is "
            "extrapolated from the sample, not measured. Load averages are the machine's "
            "1-minute figure at the start and end of the run (2 cores, shared)."
        ),
    }
    path = ROOT / "bench" / "results" / "train.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
