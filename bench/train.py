"""Training speed: ``bordercast train`` on the full bundled store, against AutoETS and Prophet.

Run by hand: ``.venv/bin/python bench/train.py [--db /tmp/perf/full.db]``. Builds
the store from the four bundled files when ``--db`` does not exist yet, then
times in one run:

* ``forecasting.training.train`` on every series with ``workers=1`` and
  ``workers=2`` (plan seconds, fit + commit seconds, total, per trained series);
* statsforecast ``AutoETS`` (season 12 with two years of history) fitted and
  forecast 12 months on every live series' contiguous history, one process;
* Prophet with defaults (``uncertainty_samples=0``) on a sample of 30 of the
  same series, its per-series cost extrapolated to all of them.

Prints a table and writes ``bench/results/train.json``. Models are written
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

from forecasting import models, training
from forecasting.ingest import ingest
from forecasting.store import Store

ROOT = Path(__file__).resolve().parent.parent
FILES = (
    "ohss-khsm-usbp-encounters-fy2000-fy2025.xlsx",
    "cbp-sw-border-encounters-fy22-fy25-aug.csv",
    "cbp-nationwide-encounters-fy20-fy23-state.csv",
    "cbp-nationwide-encounters-fy23-fy26-nov-state.csv",
)
PROPHET_SAMPLE = 30


def open_store(db: Path) -> Store:
    fresh = not db.exists()
    db.parent.mkdir(parents=True, exist_ok=True)
    store = Store(f"sqlite:///{db}")
    if fresh:
        for name in FILES:
            ingest(store, str(ROOT / "data" / name))
    return store


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


def time_autoets(histories: dict[str, pd.DataFrame]) -> dict[str, float]:
    from statsforecast.models import AutoETS

    failed = 0
    started = time.perf_counter()
    for history in histories.values():
        y = history["y"].to_numpy(dtype=float)
        season = 12 if len(y) >= 24 else 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                AutoETS(season_length=season).forecast(y=y, h=12)
        except Exception:  # degenerate series; counted, not timed apart
            failed += 1
    total = time.perf_counter() - started
    n = len(histories)
    return {
        "series": n,
        "failed": failed,
        "total_s": round(total, 1),
        "per_series_ms": round(1000 * total / n, 1),
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
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    store = open_store(args.db)
    histories = live_histories(store)
    import statsforecast.models  # noqa: F401  imported once, outside every timing

    runs = [time_train(store, 1), time_train(store, 2)]
    ets = time_autoets(histories)
    prophet = None if args.no_prophet else time_prophet(histories)

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
    if prophet:
        name = f"Prophet, {prophet['sample']} series"
        print(f"{name:<28}{'':>9}{'':>9}{prophet['sample_s']:>9}{prophet['per_series_ms']:>11}")
        print(
            f"  Prophet extrapolated to {prophet['extrapolated_series']} series: "
            f"{prophet['extrapolated_all_s']} s (sampled per-series cost x series, not measured)"
        )
    out = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cores": os.cpu_count()},
        "store": str(args.db),
        "live_series": len(histories),
        "train": runs,
        "autoets": ets,
        "prophet": prophet,
        "notes": (
            "fit_commit_s is total minus plan: the per-series fits and the registry commit. "
            "Prophet's all-series figure is extrapolated from the sample, not measured."
        ),
    }
    path = ROOT / "bench" / "results" / "train.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
