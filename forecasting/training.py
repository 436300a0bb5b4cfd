"""Training every series: a plan made once, a fit per series, one commit.

The split follows what can run apart. :func:`plan` does what needs every
series at once (the global model, the rolling-origin backtest that chooses
the served combination and calibrates its intervals); :func:`train_one` fits
one series from the plan and is what a thread, a process or a Dask worker
runs; :func:`commit` registers every version and forecast in one
transaction, so the service switches from one complete set to the next.
:func:`train` runs the three in this process with a process pool.
"""

from __future__ import annotations

import copy
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import pandas as pd
from joblib import Parallel, delayed

from forecasting import models
from forecasting.backtest import cross_validate, evaluate, summarize
from forecasting.errors import ModelError
from forecasting.indicators import ENCOUNTER_REGION, indicator_frame
from forecasting.intervals import AnyCalibration, pooled_calibration, served_bands
from forecasting.leading import Leading, citizenship_indicators
from forecasting.policy import PolicyEvent, load_events
from forecasting.registry import ModelRecord, Registry, frame_hash
from forecasting.settings import get_settings
from forecasting.store import Store
from forecasting.vintages import Config, Vintages, month_of

log = logging.getLogger(__name__)

#: Horizon of the stored forecasts, and the levels of their intervals.
HORIZON = 12
LEVELS = models.LEVELS
#: The baselines every model's metrics are published against.
BASELINES = ("rw", "snaive")
#: Months of history a series needs before a backtest origin.
MIN_TRAIN = 24
#: Encounters in the last backtest month below which a series does not vote on the model.
CHOICE_MIN_COUNT = 10


@dataclass
class TrainingPlan:
    """What every series' fit shares; picklable, so it travels to worker processes."""

    frame: pd.DataFrame
    cutoff: pd.Timestamp
    data_hash: str
    series_ids: list[str]
    stopped: list[str]
    chosen: str
    global_model: Any
    calibration: AnyCalibration
    events: list[PolicyEvent] | None
    #: Each candidate's backtest figures over the series that chose (:func:`voters`).
    summary: dict[str, dict[str, float]]
    metrics: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    horizon: int = HORIZON
    #: Transit indicators (``indicator_frame``) when training with them, else None.
    indicators: pd.DataFrame | None = None
    #: The global model as of each backtest origin and the cut-off (with indicators only).
    origin_globals: dict[pd.Timestamp, Any] = field(default_factory=dict)


@dataclass
class SeriesResult:
    """One series' fit: a record to register, or the error that stopped it.

    ``metrics`` holds each model's backtest figures over horizons 1-6
    (``{"bordercast": {"rel_mae": ...}, "rw": {...}}``), for run reports; the
    per-horizon detail travels in the record.
    """

    unique_id: str
    ok: bool
    error: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    record: ModelRecord | None = None


def policy_path() -> Path:
    """The policy calendar: ``data/policy_events.yaml`` unless the data dir is moved."""
    return get_settings().data_dir / "policy_events.yaml"


def contiguous(frame: pd.DataFrame) -> pd.DataFrame:
    """Each series' last unbroken run of months: models need contiguous histories.

    A gap means no source covered those months (never a zero); what came
    before it is a different regime of reporting and is left out.
    """
    frame = frame.sort_values(["unique_id", "ds"])
    index = frame["ds"].dt.year * 12 + frame["ds"].dt.month
    breaks = index.groupby(frame["unique_id"]).diff().ne(1)
    run = breaks.groupby(frame["unique_id"]).cumsum()
    last = run.groupby(frame["unique_id"]).transform("max")
    return frame[run == last].reset_index(drop=True)


def _origins(cutoff: pd.Timestamp, first: pd.Timestamp, n: int) -> pd.DatetimeIndex:
    """Quarterly origins ending six months before the cut-off, each with two years behind it.

    A short store (one CBP release of four years) gets fewer origins, never
    none: the last one stands even if only its own two years support it.
    """
    end = cutoff - pd.DateOffset(months=6)
    origins = pd.date_range(end=end, periods=n, freq="3MS")
    kept = origins[origins >= first + pd.DateOffset(months=MIN_TRAIN)]
    return kept if len(kept) else origins[-1:]


def fit_global(frame: pd.DataFrame, h: int) -> models.GlobalBoosted | None:
    """The global model, or None where too few series-months exist to fit it.

    Small stores (one CBP release) cannot support a model across series; the
    combination then does without that member rather than failing.
    """
    try:
        return models.GlobalBoosted(max_h=h).fit(frame)
    except ModelError as exc:
        log.info("global model left out: %s", exc)
        return None


def plan(
    store: Store,
    series_ids: list[str] | None = None,
    as_of: str | None = None,
    n_origins: int = 8,
    n_jobs: int = 2,
    with_prophet: bool = False,
    with_indicators: bool | None = None,
) -> TrainingPlan:
    """Backtest the candidates as of the data's cut-off and choose what is served.

    Every series in the store shapes the global model; the backtest that
    chooses the served model and calibrates its intervals runs on the series
    being trained (all of them, unless ``series_ids`` names some). With
    ``with_indicators`` (None: the ``train_indicators`` setting, so the CLI and
    the monthly flow agree) the plan also carries the transit indicators and
    the global model of every origin, which :func:`served_at` needs to
    backtest each series with and without them.
    """
    if with_indicators is None:
        with_indicators = get_settings().train_indicators
    frame = contiguous(store.series_frame(as_of=as_of))
    cutoff = frame["ds"].max()
    last = frame.groupby("unique_id")["ds"].max()
    newest = models.sources_newest(frame)
    live = [u for u in last.index if last[u] >= newest[u]]
    stopped = sorted(set(last.index) - set(live))
    events = load_events(policy_path()) if with_prophet else None
    h = HORIZON
    firsts = frame.groupby("unique_id")["ds"].min()
    origins = _origins(cutoff, firsts[live].min(), n_origins)
    wanted = live if series_ids is None else [u for u in series_ids if u in set(live)]
    tested = [u for u in wanted if firsts[u] <= origins[0] - pd.DateOffset(months=MIN_TRAIN)]
    # the served global model and one per backtest origin: a few seconds each, so in parallel
    cuts = [cutoff, *origins]
    fits = Parallel(n_jobs=n_jobs)(delayed(fit_global)(frame[frame["ds"] <= c], h) for c in cuts)
    global_model, globals_ = fits[0], dict(zip(origins, fits[1:], strict=True))
    candidates = {
        "rw": lambda u, c: models.RandomWalk(),
        "snaive": lambda u, c: models.SeasonalNaive(),
        "theta": lambda u, c: models.StatsForecastModel("theta"),
        "bordercast": lambda u, c: models.Bordercast(globals_[c], events),
    }
    cv = cross_validate(
        frame[frame["unique_id"].isin(tested)], candidates, origins, 6, LEVELS, n_jobs=n_jobs
    )
    published = outcome(cv)
    indicators = indicator_frame(store, as_of=as_of) if with_indicators else None
    return TrainingPlan(
        frame=frame,
        cutoff=cutoff,
        data_hash=frame_hash(frame),
        series_ids=sorted(wanted),
        stopped=stopped,
        chosen=published.chosen,
        global_model=global_model,
        calibration=published.calibration,
        events=events,
        summary=published.summary,
        metrics=published.metrics,
        indicators=indicators,
        origin_globals={**globals_, cutoff: global_model} if with_indicators else {},
    )


@dataclass
class Outcome:
    """What a plan takes from its backtest: the served model, its bands and the figures."""

    chosen: str
    calibration: AnyCalibration
    summary: dict[str, dict[str, float]]
    metrics: dict[str, dict[str, dict[str, Any]]]


def outcome(cv: pd.DataFrame) -> Outcome:
    """Choose, calibrate and publish from one backtest.

    The published figures are those of what is served: coverage of the
    bands as served as of each backtest origin (:func:`served_bands`, not
    each model's own), and the summary over the series that chose
    (:func:`voters`), so a store of tiny citizenships does not set the
    figures a desk officer reads.
    """
    chosen = choose(cv)
    calibration = pooled_calibration(cv, chosen, LEVELS)
    served = served_bands(cv, LEVELS)
    summary = _records(summarize(voters(served)))
    return Outcome(chosen, calibration, summary, _series_metrics(evaluate(served)))


def voters(cv: pd.DataFrame, min_count: int = CHOICE_MIN_COUNT) -> pd.DataFrame:
    """The backtest rows of series at ``min_count`` or more at the last backtest origin.

    A citizenship at 2 encounters scores 1 against 0 as a 100% miss, and
    such series are most of a store: chosen over all of them, the served
    model was Theta at 14 of issue 9's 34 origins and lost to the random
    walk at h6 (0.9885 overall); chosen over series at 10 or more it scores
    0.973, no horizon above 1 (``bench/served_accuracy.py``). All rows where
    no series is that large.
    """
    last = cv[cv["cutoff"] == cv["cutoff"].max()].groupby("unique_id")["y_cutoff"].first()
    sized = cv[cv["unique_id"].isin(last[last >= min_count].index)]
    return sized if len(sized) else cv


def choose(cv: pd.DataFrame, min_count: int = CHOICE_MIN_COUNT) -> str:
    """The served model: best AvgRelMAE over the :func:`voters`; seasonal naive never."""
    scored = voters(cv, min_count)
    return str(summarize(scored[scored["model"] != "snaive"]).index[0])


def _records(frame: pd.DataFrame) -> dict[str, dict[str, float]]:
    return {str(k): {c: _plain(v) for c, v in row.items()} for k, row in frame.iterrows()}


def _plain(value: Any) -> Any:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return None if number != number else round(number, 4)


def _series_metrics(metrics: pd.DataFrame) -> dict[str, dict[str, dict[str, Any]]]:
    """``{unique_id: {model: {"all": {...}, "h1": {...}, ...}}}`` from :func:`evaluate`."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in metrics.to_dict("records"):
        key = "all" if row["h"] == "all" else f"h{row['h']}"
        values = {c: _plain(v) for c, v in row.items() if c not in ("model", "unique_id", "h")}
        out.setdefault(row["unique_id"], {}).setdefault(row["model"], {})[key] = values
    return out


def served(plan: TrainingPlan) -> models.LogModel:
    """A fresh instance of the model the backtest chose, with the pooled intervals."""
    if plan.chosen == "rw":
        return models.RandomWalk(calibration=plan.calibration)
    if plan.chosen == "theta":
        return models.StatsForecastModel("theta", calibration=plan.calibration)
    return models.Bordercast(plan.global_model, plan.events, calibration=plan.calibration)


def served_at(plan: TrainingPlan, cutoff: pd.Timestamp) -> models.LogModel:
    """The served model as a fit at ``cutoff`` would have had it: no later global model.

    The with/without-indicators backtest of :class:`~forecasting.leading.Leading`
    refits the served model at each past month; it gets the global model of the
    latest backtest origin by then (none before the first), never one that has
    seen the months it is scored on.
    """
    if plan.chosen != "bordercast":
        return served(plan)
    known = [c for c in plan.origin_globals if c <= cutoff]
    global_model = plan.origin_globals[max(known)] if known else None
    return models.Bordercast(global_model, plan.events)


def series_indicators(plan: TrainingPlan, unique_id: str) -> pd.DataFrame | None:
    """The transit indicators of a southwest series' citizenship, if training with them."""
    code, region, _component = unique_id.split(":")
    if plan.indicators is None or region != ENCOUNTER_REGION or code in ("ALL", "OTHER"):
        return None
    ind = citizenship_indicators(plan.indicators, code)
    return None if ind.empty else ind


def fitted_model(plan: TrainingPlan, unique_id: str, history: pd.DataFrame) -> models.LogModel:
    """The served model fitted on ``history``; with indicators where the series has them.

    Such a series gets :class:`~forecasting.leading.Leading`: per horizon, the
    served model blended with the indicator model where a backtest over the
    last 26 months says it helps, else the served model alone.
    """
    ind = series_indicators(plan, unique_id)
    if ind is None:
        return served(plan).fit(history)
    return Leading(ind, without=lambda c: served_at(plan, c), calibration=plan.calibration).fit(
        history
    )


def train_one(plan: TrainingPlan, unique_id: str) -> SeriesResult:
    """Fit and forecast one series; an error is returned, not raised, so the rest go on."""
    try:
        history = plan.frame[plan.frame["unique_id"] == unique_id]
        model = fitted_model(plan, unique_id, history)
        predicted = model.predict(plan.horizon, LEVELS)
    except Exception as exc:  # one series must never fail the others
        log.warning("%s: training failed: %s", unique_id, exc)
        return SeriesResult(unique_id, ok=False, error=f"{type(exc).__name__}: {exc}")
    kind = getattr(model, "chosen_name", plan.chosen)
    # copies: a plan may be kept loaded and answer many requests (vintages.loaded_plan)
    metrics = {
        "chosen": plan.chosen,
        "series": copy.deepcopy(plan.metrics.get(unique_id, {})),
        "overall": copy.deepcopy(plan.summary),
    }
    if isinstance(model, Leading):
        metrics["indicators"] = indicator_metadata(model)
    record = ModelRecord(
        unique_id=unique_id,
        kind=kind,
        data_cutoff=plan.cutoff,
        data_hash=plan.data_hash,
        artifact=model,
        forecast=_long_forecast(predicted),
        params={
            "chosen": plan.chosen,
            "horizon": plan.horizon,
            "events": [e.id for e in plan.events or []],
            "indicators": plan.indicators is not None,
        },
        metrics=metrics,
    )
    figures = {m: v.get("all", {}) for m, v in plan.metrics.get(unique_id, {}).items()}
    return SeriesResult(unique_id, ok=True, metrics=figures, record=record)


def indicator_metadata(model: Leading) -> dict[str, Any]:
    """The candidate served per horizon, the scores and the indicators used, for JSON.

    Scores are AvgRelMAE against the random walk over the backtest's scored
    targets (months when an indicator entered the candidate), and each
    candidate's ratio to the model without indicators.
    """
    meta = model.metadata
    return {
        "as_of": meta["as_of"],
        "choice": {f"h{k}": v for k, v in meta["choice"].items()},
        "scores": {
            f"h{k}": {
                **{f"{c}_rel_mae": s.get(f"{c}_rel_mae") for c in ("blend", "relay", "without")},
                **{f"{c}_vs_without": s.get(f"rel_{c}_vs_without") for c in ("blend", "relay")},
                **{f"n_{c}": s.get(f"n_{c}") for c in ("blend", "relay")},
            }
            for k, s in meta["scores"].items()
        },
        "indicators": meta["indicators"],
        "relay": meta["relay"],
    }


def _long_forecast(predicted: pd.DataFrame) -> pd.DataFrame:
    parts = [
        pd.DataFrame(
            {
                "ds": predicted["ds"],
                "level": level,
                "mean": predicted["mean"],
                "lower": predicted[f"lo-{level}"],
                "upper": predicted[f"hi-{level}"],
            }
        )
        for level in LEVELS
    ]
    return pd.concat(parts, ignore_index=True)


def commit(store: Store, plan: TrainingPlan, results: list[SeriesResult]) -> dict[str, Any]:
    """Register every successful fit in one transaction; report what failed."""
    registry = Registry(store, get_settings().model_dir)
    records = [r.record for r in results if r.ok and r.record is not None]
    registry.save(records)
    if _covers_every_series(plan):
        _keep_vintage(store, plan)
    failed = {r.unique_id: r.error for r in results if not r.ok}
    return {
        "cutoff": f"{plan.cutoff:%Y-%m}",
        "chosen": plan.chosen,
        "trained": len(records),
        "failed": failed,
        "stopped": plan.stopped,
        "summary": plan.summary,
    }


def config(plan: TrainingPlan) -> Config:
    return Config(prophet=bool(plan.events), indicators=plan.indicators is not None)


def _covers_every_series(plan: TrainingPlan) -> bool:
    """A plan of some series only chose and calibrated on those: not the month's plan."""
    live = plan.frame["unique_id"].nunique() - len(plan.stopped)
    return len(plan.series_ids) == live


def _keep_vintage(store: Store, plan: TrainingPlan) -> None:
    """Keep the plan for as-of forecasts of its month; the models are published either way."""
    try:
        Vintages(store, get_settings().model_dir).save(plan, config(plan))
    except OSError as exc:
        log.warning("plan of %s not kept for as-of forecasts: %s", f"{plan.cutoff:%Y-%m}", exc)


def plan_at(
    store: Store, month: str | pd.Timestamp, how: Config, build: bool = False, n_jobs: int = 2
) -> TrainingPlan | None:
    """The plan as of ``month``, as a training then would have made it; None if not kept.

    With ``build`` a missing plan is made and kept (about 35 s on the bundled
    store). The returned plan carries the data frame as of the month.
    """
    return month_plan(store, month, how, build, n_jobs)[0]


def month_plan(
    store: Store, month: str | pd.Timestamp, how: Config, build: bool = False, n_jobs: int = 2
) -> tuple[TrainingPlan | None, str]:
    """:func:`plan_at`, and what it did: ``kept``, ``built``, ``missing`` or ``no data``."""
    month = month_of(month)
    vintages = Vintages(store, get_settings().model_dir)
    if not build and not vintages.any_kept(month, how):
        return None, "missing"
    as_of = f"{month:%Y-%m}"
    frame, data_hash = month_frame(store, as_of)
    if frame.empty:
        return None, "no data"
    found = vintages.find(month, how, data_hash)
    status = "kept"
    if found is None and not build:
        return None, "missing"
    if found is None:
        found = plan(
            store,
            as_of=as_of,
            with_prophet=how.prophet,
            with_indicators=how.indicators,
            n_jobs=n_jobs,
        )
        vintages.save(found, how, month)
        status = "built"
    return replace(found, frame=frame), status


#: Months whose data each process keeps read, with their hash (see :func:`month_frame`).
READ_MONTHS = 2
_month_frames: OrderedDict[tuple[str, tuple[object, ...], str], tuple[pd.DataFrame, str]] = (
    OrderedDict()
)
_month_frames_lock = threading.Lock()


def month_frame(store: Store, as_of: str) -> tuple[pd.DataFrame, str]:
    """Every series through month ``as_of`` and its hash, read once per store state.

    An exact as-of answer needs the hash of the month's data to find its plan,
    and reading every series took most of an answer (0.56 s of 0.7-0.95 s,
    ``bench/as_of.py``). The store's generation changes with every write
    readers see (:meth:`~forecasting.store.Store.generation`), so a new
    release or a revision is read anew, never served from here. Callers do
    not change the frame.
    """
    key = (store.url, store.generation(), as_of)
    with _month_frames_lock:
        hit = _month_frames.get(key)
        if hit is not None:
            _month_frames.move_to_end(key)
            return hit
    frame = contiguous(store.series_frame(as_of=as_of))
    read = (frame, frame_hash(frame))
    with _month_frames_lock:  # the API answers on several threads
        _month_frames[key] = read
        while len(_month_frames) > READ_MONTHS:
            _month_frames.popitem(last=False)
    return read


def _train_chunk(plan: TrainingPlan, ids: list[str]) -> list[SeriesResult]:
    return [train_one(plan, uid) for uid in ids]


def train(
    store: Store,
    series_ids: list[str] | None = None,
    workers: int = 2,
    progress: bool = False,
    with_prophet: bool = False,
    with_indicators: bool | None = None,
) -> dict[str, Any]:
    """Plan, fit every series on ``workers`` processes, commit; the CLI's ``train``."""
    started = time.perf_counter()
    the_plan = plan(
        store,
        series_ids,
        n_jobs=workers,
        with_prophet=with_prophet,
        with_indicators=with_indicators,
    )
    planned = time.perf_counter()
    ids = the_plan.series_ids
    chunks = [ids[i :: max(workers, 1) * 4] for i in range(max(workers, 1) * 4)]
    results: list[SeriesResult] = []
    if workers <= 1:
        results = _train_chunk(the_plan, ids)
    else:
        # spawned, not forked: a process that has run LightGBM (an exact as-of answer in
        # the API, say) holds an OpenMP pool that a forked child deadlocks on
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_train_chunk, the_plan, c) for c in chunks if c]
            bar = _progress(len(futures), progress)
            for future in futures:
                results.extend(future.result())
                bar.update(1)
            bar.close()
    summary = commit(store, the_plan, results)
    summary["seconds"] = {
        "plan": round(planned - started, 1),
        "total": round(time.perf_counter() - started, 1),
    }
    return summary


def _progress(total: int, enabled: bool) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, disable=not enabled, desc="training", unit="batch")
