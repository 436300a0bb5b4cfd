"""Rolling-origin backtests: as-of forecasts at past origins, scored against what came.

:func:`cross_validate` refits each model at each origin on the counts up to
and including that month only, and returns a long frame with a ``cutoff``
column (statsforecast's shape). :func:`evaluate` turns it into metrics per
model, series and horizon; :func:`summarize` into one row per model.

AvgRelMAE is the geometric mean, over series and origins, of the model's MAE
divided by the random walk's MAE on the same targets (Davydenko and Fildes):
below 1 beats carrying the last value forward. Absolute errors under one
encounter count as one, so a series of zeros forecast as zeros is a tie, not
a division by zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs

from forecasting.errors import ModelError
from forecasting.intervals import series_scale

if TYPE_CHECKING:
    from forecasting.models import Model

#: Builds a fresh, unfitted model for one series at one cutoff.
ModelFactory = Callable[[str, pd.Timestamp], "Model"]

#: Errors below this many encounters count as this many in relative metrics.
MIN_ERROR = 1.0


def _horizons(horizons: int | Sequence[int]) -> list[int]:
    hs = list(range(1, horizons + 1)) if isinstance(horizons, int) else sorted(set(horizons))
    if not hs or min(hs) < 1:
        raise ValueError(f"horizons must be positive, got {horizons!r}")
    return hs


def check_lengths(frame: pd.DataFrame, origins: Sequence[pd.Timestamp], min_train: int) -> None:
    """Raise before any work if a series has fewer than ``min_train`` months at the first origin."""
    first = min(origins)
    counts = frame[frame["ds"] <= first].groupby("unique_id").size()
    counts = counts.reindex(frame["unique_id"].unique(), fill_value=0)
    short = counts[counts < min_train]
    if len(short):
        names = ", ".join(short.index[:10]) + (" ..." if len(short) > 10 else "")
        raise ModelError(
            f"The following series are too short ({min_train} months needed up to the first "
            f"origin {first:%Y-%m}): {names}"
        )


def cross_validate(
    frame: pd.DataFrame,
    models: Mapping[str, ModelFactory],
    origins: Iterable[pd.Timestamp],
    horizons: int | Sequence[int] = 6,
    levels: Sequence[int] = (80, 95),
    min_train: int = 24,
    n_jobs: int = 1,
) -> pd.DataFrame:
    """Forecast every series from every origin with every model.

    Parameters
    ----------
    frame : DataFrame
        Long ``unique_id, ds, y``; each series contiguous.
    models : mapping of name to factory
        ``factory(unique_id, cutoff)`` returns a fresh unfitted model, so a
        model trained across series (the global one) can be the one trained
        as of that cutoff.
    origins : iterable of Timestamp
        Cutoff months; the cutoff month itself is in the training data.
    horizons : int or sequence of int
        ``6`` means 1..6.

    Returns
    -------
    DataFrame
        ``unique_id, model, cutoff, ds, h, y, mean, lo-*, hi-*`` plus
        ``y_cutoff`` (the last observed value), ``scale`` (log volatility at
        the cutoff) and ``mase_scale`` (mean absolute one-step change of the
        counts before the cutoff). Targets after the data's end are left out.
    """
    origins = sorted(pd.Timestamp(o) for o in origins)
    hs = _horizons(horizons)
    if not origins:
        raise ValueError("origins is empty")
    check_lengths(frame, origins, min_train)
    groups = [g for _, g in frame.groupby("unique_id", sort=True)]
    # a few contiguous chunks per process rather than one task per series: the
    # factories may hold global models of megabytes, pickled once per task
    n_chunks = min(len(groups), 4 * effective_n_jobs(n_jobs))
    chunks = [list(c) for c in np.array_split(np.arange(len(groups)), n_chunks)]
    parts = Parallel(n_jobs=n_jobs)(
        delayed(_series_chunk)([groups[i] for i in c], models, origins, hs, tuple(levels))
        for c in chunks
    )
    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame()
    return pd.concat(parts, ignore_index=True)


def _series_chunk(
    groups: list[pd.DataFrame],
    models: Mapping[str, ModelFactory],
    origins: list[pd.Timestamp],
    hs: list[int],
    levels: tuple[int, ...],
) -> pd.DataFrame:
    parts = [_one_series(g, models, origins, hs, levels) for g in groups]
    parts = [p for p in parts if len(p)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _one_series(
    series: pd.DataFrame,
    models: Mapping[str, ModelFactory],
    origins: list[pd.Timestamp],
    hs: list[int],
    levels: tuple[int, ...],
) -> pd.DataFrame:
    uid = str(series["unique_id"].iloc[0])
    series = series.reset_index(drop=True)
    y = series["y"].to_numpy(dtype=float)
    ds = pd.DatetimeIndex(series["ds"])
    rows = []
    for cutoff in origins:
        if cutoff not in ds:
            continue
        t = ds.get_loc(cutoff)
        targets = [h for h in hs if t + h < len(y)]
        if not targets:
            continue
        history = series.iloc[: t + 1]
        z = np.log1p(y[: t + 1])
        mase = max(float(np.mean(np.abs(np.diff(y[: t + 1])))) if t else 1.0, MIN_ERROR)
        for name, factory in models.items():
            fc = factory(uid, cutoff).fit(history).predict(max(hs), levels)
            fc = fc.iloc[[h - 1 for h in targets]]
            n = len(targets)
            part = {
                "unique_id": [uid] * n,
                "model": [name] * n,
                "cutoff": [cutoff] * n,
                "h": targets,
            }
            part.update({c: fc[c].to_numpy() for c in fc.columns})
            part.update(
                y=y[[t + h for h in targets]],
                y_cutoff=[y[t]] * n,
                scale=[series_scale(z)] * n,
                mase_scale=[mase] * n,
            )
            rows.append(part)
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame({k: np.concatenate([r[k] for r in rows]) for k in rows[0]})


def _add_errors(cv: pd.DataFrame, levels: Sequence[int]) -> pd.DataFrame:
    out = cv.copy()
    out["ae"] = (out["y"] - out["mean"]).abs()
    out["ae_rw"] = (out["y"] - out["y_cutoff"]).abs()
    denom = out["y"].abs() + out["mean"].abs()
    out["smape"] = np.where(denom > 0, 2 * out["ae"] / denom.where(denom > 0, 1), 0.0)
    for level in levels:
        if f"lo-{level}" in out:
            inside = (out["y"] >= out[f"lo-{level}"]) & (out["y"] <= out[f"hi-{level}"])
            # a row without a band (no calibration yet at its origin) is not scored
            out[f"cov-{level}"] = inside.astype(float).where(out[f"lo-{level}"].notna())
    return out


def _levels_of(cv: pd.DataFrame) -> list[int]:
    return sorted(int(c[3:]) for c in cv.columns if c.startswith("lo-"))


def evaluate(cv: pd.DataFrame) -> pd.DataFrame:
    """Metrics per model, series and horizon (``h`` = 1..H, and ``"all"`` for 1..H together).

    Columns: ``rel_mae`` (AvgRelMAE over that series' origins), ``mase``,
    ``smape`` (0..2), ``mae``, ``cov-<level>`` (share of actuals inside the
    interval) and ``n`` (targets scored).
    """
    levels = _levels_of(cv)
    err = _add_errors(cv, levels)
    covs = [f"cov-{lv}" for lv in levels]
    per_h = _metrics(err, ["model", "unique_id", "h"], covs)
    # a series' AvgRelMAE over all horizons: per-origin MAE ratio, then geometric mean
    by_origin = err.groupby(["model", "unique_id", "cutoff"]).agg(
        ae=("ae", "mean"), ae_rw=("ae_rw", "mean")
    )
    ratio = np.log(by_origin["ae"].clip(lower=MIN_ERROR) / by_origin["ae_rw"].clip(lower=MIN_ERROR))
    rel_all = np.exp(ratio.groupby(["model", "unique_id"]).mean()).rename("rel_mae")
    overall = _metrics(err, ["model", "unique_id"], covs, with_rel=False).join(rel_all)
    overall = overall.reset_index()
    overall["h"] = "all"
    per_h = per_h.reset_index()
    per_h["h"] = per_h["h"].astype(object)
    return pd.concat([per_h, overall[per_h.columns]], ignore_index=True)


def _metrics(err: pd.DataFrame, keys: list[str], covs: list[str], with_rel: bool = True):
    err = err.assign(
        lr=np.log(err["ae"].clip(lower=MIN_ERROR) / err["ae_rw"].clip(lower=MIN_ERROR)),
        scaled=err["ae"] / err["mase_scale"],
    )
    agg = {"mae": ("ae", "mean"), "mase": ("scaled", "mean"), "smape": ("smape", "mean")}
    agg.update({c: (c, "mean") for c in covs})
    agg["n"] = ("ae", "size")
    if with_rel:
        agg["lr"] = ("lr", "mean")
    out = err.groupby(keys).agg(**agg)
    if with_rel:
        out.insert(0, "rel_mae", np.exp(out.pop("lr")))
    return out


def summarize(cv: pd.DataFrame) -> pd.DataFrame:
    """One row per model: AvgRelMAE over all series and origins, per horizon, and coverage.

    ``rel_mae`` pools the per-origin MAE ratios of every series (geometric
    mean); ``rel_mae_h<k>`` does the same for horizon k alone; ``worst_h``
    is the largest of those.
    """
    levels = _levels_of(cv)
    err = _add_errors(cv, levels)
    by_origin = err.groupby(["model", "unique_id", "cutoff"]).agg(
        ae=("ae", "mean"), ae_rw=("ae_rw", "mean")
    )
    lr = np.log(by_origin["ae"].clip(lower=MIN_ERROR) / by_origin["ae_rw"].clip(lower=MIN_ERROR))
    out = pd.DataFrame({"rel_mae": np.exp(lr.groupby("model").mean())})
    err["lr"] = np.log(err["ae"].clip(lower=MIN_ERROR) / err["ae_rw"].clip(lower=MIN_ERROR))
    per_h = np.exp(err.groupby(["model", "h"])["lr"].mean()).unstack("h")
    per_h.columns = [f"rel_mae_h{h}" for h in per_h.columns]
    out = out.join(per_h)
    out["worst_h"] = per_h.max(axis=1)
    out["mase"] = (err["ae"] / err["mase_scale"]).groupby(err["model"]).mean()
    out["smape"] = err.groupby("model")["smape"].mean()
    for level in levels:
        out[f"cov-{level}"] = err.groupby("model")[f"cov-{level}"].mean()
    out["n_origins"] = by_origin.groupby("model").size()
    return out.sort_values("rel_mae")
