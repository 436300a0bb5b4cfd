"""A measured dead end of issue 9: a seasonal change added to the anchored forecasts.

Encounters have a seasonal shape (a spring high, a December low), which the
random walk ignores. This adds, to the random walk or to the served model,
the change between the origin's calendar month and each target month of a
seasonal profile: the mean deviation of log1p counts from their centred
13-month mean over the 8 years before the origin, taken from the southwest
total (pooled), the series itself (own), or half of each (mix). Protocol and
metric as ``bench/accuracy.py``. Result: every variant loses to both the
random walk and the served model, so none is served.

Run: ``.venv/bin/python bench/seasonal.py`` (about 2 minutes; writes
``bench/results/seasonal.json``).
"""

import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from accuracy import HORIZON, ORIGINS, WARMUP, protocol_ids, workbook_frame  # noqa: E402

import forecasting.models as m  # noqa: E402
from forecasting.backtest import cross_validate, summarize  # noqa: E402


def profile(wide, uid, cutoff, years=8):
    """Mean log deviation per calendar month from the centred 13-month mean, years before cutoff."""
    z = np.log1p(wide[uid].loc[:cutoff].dropna())
    trend = z.rolling(13, center=True).mean()
    dev = (z - trend).dropna()
    dev = dev[dev.index > cutoff - pd.DateOffset(years=years)]
    if len(dev) < 24:
        return np.zeros(12)
    s = dev.groupby(dev.index.month).mean().reindex(range(1, 13)).fillna(0).to_numpy()
    return s - s.mean()


class Seasonal(m.LogModel):
    """``base``'s change (none: the random walk's) plus ``w`` times the profile's change."""

    name = "seasonal"

    def __init__(self, wide, base, cutoff, uid, w_own=0.5, w=1.0, pooled="ALL:southwest:usbp"):
        super().__init__()
        self.wide, self.base, self.cutoff, self.uid = wide, base, cutoff, uid
        self.w_own, self.w, self.pooled = w_own, w, pooled

    def _fit(self, history):
        if self.base is not None:
            self.base.fit(history)
        pooled = profile(self.wide, self.pooled, self.cutoff)
        own = profile(self.wide, self.uid, self.cutoff)
        self.s = (1 - self.w_own) * pooled + self.w_own * own

    def delta(self, h):
        last = self.ds_[-1].month - 1
        months = [(last + k) % 12 for k in range(1, h + 1)]
        seas = self.w * (self.s[months] - self.s[last])
        base = self.base.delta(h) if self.base is not None else np.zeros(h)
        return base + seas


def main() -> None:
    started = time.time()
    frame = workbook_frame()
    ids = protocol_ids(frame)
    sub = frame[frame["unique_id"].isin(ids)]
    wide = frame.pivot(index="ds", columns="unique_id", values="y")
    cutoffs = WARMUP.append(ORIGINS)
    fitted = {c: m.GlobalRidge(max_h=HORIZON).fit(frame[frame["ds"] <= c]) for c in cutoffs}
    fac = {
        "rw": lambda u, c: m.RandomWalk(),
        "bordercast": lambda u, c: m.served_model(u, c, frame, fitted[c]),
        "seas_pooled": lambda u, c: Seasonal(wide, None, c, u, w_own=0.0),
        "seas_mix": lambda u, c: Seasonal(wide, None, c, u, w_own=0.5),
        "seas_mix_half": lambda u, c: Seasonal(wide, None, c, u, w_own=0.5, w=0.5),
        "seas_own": lambda u, c: Seasonal(wide, None, c, u, w_own=1.0),
        "bc+seas_mix_half": lambda u, c: Seasonal(
            wide, m.served_model(u, c, frame, fitted[c]), c, u, w_own=0.5, w=0.5
        ),
        "bc+seas_pooled_half": lambda u, c: Seasonal(
            wide, m.served_model(u, c, frame, fitted[c]), c, u, w_own=0.0, w=0.5
        ),
    }
    cv = cross_validate(sub, fac, ORIGINS, HORIZON, n_jobs=1)
    table = summarize(cv)
    cols = ["rel_mae", *[f"rel_mae_h{h}" for h in range(1, HORIZON + 1)], "worst_h"]
    pd.set_option("display.width", 200)
    print(table[cols].round(3).to_string())
    print(f"{len(ids)} series x {len(ORIGINS)} origins, {time.time() - started:.0f} s")
    out = ROOT / "bench" / "results" / "seasonal.json"
    out.write_text(
        json.dumps(
            {
                "protocol": "bench/accuracy.py (issue 9)",
                "models": table[cols].round(4).reset_index().to_dict("records"),
                "seconds": round(time.time() - started, 1),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
