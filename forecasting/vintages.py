"""Training plans as of past months, kept so an as-of forecast is the served model's own.

What a trained series forecasts depends on more than its own history: the
candidate chosen by a backtest over every series, the global model fitted on
every series, the intervals calibrated on every series' past errors. An
as-of forecast that refits only the series itself is not what the model
would have said then. The whole plan (:func:`forecasting.training.plan`) as
of a month is therefore built once (about 35 s on the bundled store), saved
as a joblib artifact whose sha256 is kept in the ``vintages`` table, and
reused by every as-of forecast of that month.

A plan is found by its month, its configuration (Prophet, indicators), the
hash of the data it was built on and the library versions: a month revised
by a later release, or a new release of a library, needs a new plan and
never gets a stale one. Plans are saved without their data frame, which the
store holds anyway and which the hash ties them to.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import insert, select

from forecasting.registry import (
    ModelVersion,
    library_versions,
    load_verified,
    verify,
    write_artifact,
)
from forecasting.schema import model_versions, vintages
from forecasting.store import Store

if TYPE_CHECKING:
    from forecasting.training import TrainingPlan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Config:
    """How the served models were trained: an as-of plan must be trained the same way."""

    prophet: bool = False
    indicators: bool = False

    @property
    def name(self) -> str:
        parts = [p for p, on in (("prophet", self.prophet), ("indicators", self.indicators)) if on]
        return "+".join(parts) or "default"


def config_of(version: ModelVersion | None, indicators_setting: bool) -> Config:
    """The configuration a series' current version was trained with.

    Before a series' first training (or for a version registered before the
    configuration was recorded) the ``train_indicators`` setting decides.
    """
    return _from_params(None if version is None else version.params, indicators_setting)


def served_config(store: Store, indicators_setting: bool) -> Config:
    """The configuration of the newest training: what a backfill keeps plans for."""
    query = select(model_versions.c.params).order_by(model_versions.c.id.desc()).limit(1)
    with store.engine.connect() as conn:
        params = conn.execute(query).scalar()
    return _from_params(None if params is None else json.loads(params), indicators_setting)


def _from_params(params: dict[str, Any] | None, indicators_setting: bool) -> Config:
    """A registry version's ``params`` as the configuration it was trained with."""
    if params is None:
        return Config(indicators=indicators_setting)
    return Config(
        prophet=bool(params.get("events")),
        indicators=bool(params.get("indicators", indicators_setting)),
    )


def month_of(value: str | pd.Timestamp) -> pd.Timestamp:
    return pd.Timestamp(value).to_period("M").to_timestamp()


#: Plans each process keeps unpickled. An as-of backtest asks one month for
#: many series, and unpickling a plan of a training with transit indicators
#: (every backtest origin's global model) took 1.6 s of a 2 s answer.
LOADED_PLANS = 2


@functools.lru_cache(maxsize=LOADED_PLANS)
def loaded_plan(path: str, sha256: str) -> TrainingPlan:
    """The plan in ``path``, unpickled once per process for these exact bytes.

    The caller checks the file against ``sha256`` at every answer, so a file
    changed since is refused, not served from here. Loaded plans are shared:
    :func:`~forecasting.training.month_plan` returns a copy with its frame,
    and :func:`~forecasting.training.train_one` copies the figures it publishes.
    """
    plan: TrainingPlan = load_verified(Path(path), sha256)
    return plan


class Vintages:
    """The saved plans of a store, under ``model_dir/vintages``."""

    def __init__(self, store: Store, model_dir: Path) -> None:
        self.store = store
        self.folder = Path(model_dir) / "vintages"

    def any_kept(self, month: pd.Timestamp, config: Config) -> bool:
        """Whether any plan of ``month`` is kept, whatever its data: one indexed query, so an
        as-of request with none skips reading every series to hash them."""
        v = vintages.c
        query = select(v.id).where(v.month == month_of(month).date(), v.config == config.name)
        with self.store.engine.connect() as conn:
            return conn.execute(query.limit(1)).first() is not None

    def find(self, month: pd.Timestamp, config: Config, data_hash: str) -> TrainingPlan | None:
        """The newest plan of ``month`` built on exactly this data, or None.

        Raises :class:`~forecasting.errors.ArtifactTampered` if its file changed.
        """
        v = vintages.c
        query = (
            select(v.artifact_path, v.artifact_sha256)
            .where(
                v.month == month_of(month).date(),
                v.config == config.name,
                v.data_hash == data_hash,
                v.library_versions == json.dumps(library_versions()),
            )
            .order_by(v.id.desc())
            .limit(1)
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        path = Path(row.artifact_path)
        if not path.exists():  # a cleared or moved model_dir: build again, do not fail
            log.warning(
                "kept plan of %s is gone (%s); it will be built again", f"{month:%Y-%m}", path
            )
            return None
        verify(path, row.artifact_sha256)  # at every answer: a loaded plan's file may change
        return loaded_plan(str(path), row.artifact_sha256)

    def save(self, plan: TrainingPlan, config: Config, month: pd.Timestamp | None = None) -> Path:
        """Keep ``plan`` (without its frame) as the plan of ``month`` (default its cut-off).

        The artifact is in place before its row is inserted, so a reader never
        finds a row without its file.
        """
        month = month_of(plan.cutoff if month is None else month)
        light = dataclasses.replace(plan, frame=plan.frame.iloc[:0])
        path, digest = write_artifact(light, self.folder / f"{month:%Y-%m}-{config.name}")
        with self.store.engine.begin() as conn:
            conn.execute(
                insert(vintages).values(
                    month=month.date(),
                    config=config.name,
                    data_hash=plan.data_hash,
                    library_versions=json.dumps(library_versions()),
                    artifact_path=str(path),
                    artifact_sha256=digest,
                    created_at=dt.datetime.now(dt.UTC),
                )
            )
        return path
