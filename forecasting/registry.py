"""The model registry: versioned joblib artifacts with their provenance and forecasts.

A version is written in two steps that never expose half of it: the artifact
goes to a temporary file renamed into place, then one transaction inserts the
version row and its forecasts and moves the ``current`` flag. Readers (the
API) only ever see a version whose row, file and forecasts are all complete.
An artifact whose sha256 differs from its row is refused before unpickling.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import tempfile
from dataclasses import dataclass, field
from importlib import metadata as pkg_metadata
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
from sqlalchemy import func, insert, select, update

from forecasting.errors import ArtifactTampered, NoModel
from forecasting.schema import forecasts, model_versions
from forecasting.store import Store

#: The libraries whose versions decide whether an artifact can be loaded.
TRACKED_LIBRARIES = ("bordercast", "numpy", "pandas", "prophet", "statsforecast", "joblib")


@dataclass
class ModelRecord:
    """What a caller hands the registry for one trained series."""

    unique_id: str
    kind: str
    data_cutoff: pd.Timestamp
    data_hash: str
    artifact: Any
    forecast: pd.DataFrame  # ds, level, mean, lower, upper
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelVersion:
    """A registry row as read back."""

    id: int
    unique_id: str
    version: int
    kind: str
    data_cutoff: str
    data_hash: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    library_versions: dict[str, str]
    artifact_path: str
    artifact_sha256: str


def library_versions() -> dict[str, str]:
    versions = {}
    for name in TRACKED_LIBRARIES:
        try:
            versions[name] = pkg_metadata.version(name)
        except pkg_metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def frame_hash(frame: pd.DataFrame) -> str:
    """A stable hash of the training data, so two versions on the same data compare equal."""
    values = pd.util.hash_pandas_object(frame.reset_index(drop=True), index=False).to_numpy()
    return hashlib.sha256(values.tobytes()).hexdigest()


def write_artifact(artifact: Any, folder: Path) -> tuple[Path, str]:
    """Dump to a temporary file renamed into place, so no reader sees half an artifact."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    handle, tmp = tempfile.mkstemp(dir=folder, suffix=".tmp")
    os.close(handle)
    joblib.dump(artifact, tmp, compress=3)
    final = folder / f"{stamp}.joblib"
    os.replace(tmp, final)
    return final, file_sha256(final)


def load_verified(path: Path, sha256: str) -> Any:
    """Unpickle an artifact only if its bytes are the ones registered.

    The bytes are read once, then hashed and unpickled, so a file replaced
    between a check and a load cannot slip through.
    """
    data = path.read_bytes()
    actual = hashlib.sha256(data).hexdigest()
    if actual != sha256:
        raise ArtifactTampered(str(path), sha256, actual)
    return joblib.load(io.BytesIO(data))


def verify(path: Path, sha256: str) -> None:
    """Refuse a file whose bytes are not the ones registered (:class:`ArtifactTampered`)."""
    actual = file_sha256(path)
    if actual != sha256:
        raise ArtifactTampered(str(path), sha256, actual)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


class Registry:
    """Model versions for every series, kept in the store's database and ``model_dir``."""

    def __init__(self, store: Store, model_dir: Path) -> None:
        self.store = store
        self.model_dir = Path(model_dir)

    def save(self, records: list[ModelRecord]) -> list[int]:
        """Write artifacts, then register all versions and forecasts in one transaction."""
        written = [(record, *self._write_artifact(record)) for record in records]
        ids = []
        with self.store.engine.begin() as conn:
            for record, path, digest in written:
                ids.append(self._register(conn, record, path, digest))
        return ids

    def _write_artifact(self, record: ModelRecord) -> tuple[Path, str]:
        return write_artifact(record.artifact, self.model_dir / record.unique_id.replace(":", "__"))

    def _register(self, conn, record: ModelRecord, path: Path, digest: str) -> int:  # type: ignore[no-untyped-def]
        mv = model_versions.c
        version = (
            conn.execute(
                select(func.max(mv.version)).where(mv.unique_id == record.unique_id)
            ).scalar()
            or 0
        ) + 1
        conn.execute(
            update(model_versions).where(mv.unique_id == record.unique_id).values(current=False)
        )
        model_id = conn.execute(
            insert(model_versions).values(
                unique_id=record.unique_id,
                version=version,
                kind=record.kind,
                data_cutoff=pd.Timestamp(record.data_cutoff).date(),
                data_hash=record.data_hash,
                params=json.dumps(record.params, default=str),
                metrics=json.dumps(record.metrics, default=_json_number),
                library_versions=json.dumps(library_versions()),
                artifact_path=str(path),
                artifact_sha256=digest,
                created_at=dt.datetime.now(dt.UTC),
                current=True,
            )
        ).inserted_primary_key[0]
        rows = [
            {
                "model_id": model_id,
                "month": pd.Timestamp(r.ds).date(),
                "level": int(r.level),
                "mean": float(r.mean),
                "lower": float(r.lower),
                "upper": float(r.upper),
            }
            for r in record.forecast.itertuples(index=False)
        ]
        if rows:
            conn.execute(insert(forecasts), rows)
        return int(model_id)

    def current(self, unique_id: str) -> ModelVersion:
        """The version being served; :class:`NoModel` before the first training."""
        with self.store.engine.connect() as conn:
            row = (
                conn.execute(
                    select(model_versions).where(
                        model_versions.c.unique_id == unique_id, model_versions.c.current
                    )
                )
                .mappings()
                .first()
            )
        if row is None:
            raise NoModel(unique_id)
        return _version(row)

    def versions(self, unique_id: str) -> list[ModelVersion]:
        with self.store.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(model_versions)
                    .where(model_versions.c.unique_id == unique_id)
                    .order_by(model_versions.c.version)
                )
                .mappings()
                .all()
            )
        return [_version(r) for r in rows]

    def stored_forecast(self, version: ModelVersion, level: int) -> pd.DataFrame:
        """The forecast the version made at training time (``ds, mean, lower, upper``)."""
        f = forecasts.c
        with self.store.engine.connect() as conn:
            frame = pd.read_sql(
                select(f.month.label("ds"), f.mean, f.lower, f.upper)
                .where(f.model_id == version.id, f.level == level)
                .order_by(f.month),
                conn,
            )
        frame["ds"] = pd.to_datetime(frame["ds"])
        return frame

    def load(self, version: ModelVersion) -> Any:
        return load_verified(Path(version.artifact_path), version.artifact_sha256)


def _version(row: Any) -> ModelVersion:
    return ModelVersion(
        id=row["id"],
        unique_id=row["unique_id"],
        version=row["version"],
        kind=row["kind"],
        data_cutoff=pd.Timestamp(row["data_cutoff"]).strftime("%Y-%m"),
        data_hash=row["data_hash"],
        params=json.loads(row["params"]),
        metrics=json.loads(row["metrics"]),
        library_versions=json.loads(row["library_versions"]),
        artifact_path=row["artifact_path"],
        artifact_sha256=row["artifact_sha256"],
    )


def _json_number(value: Any) -> Any:
    """numpy scalars and NaN in metrics become JSON numbers or null."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    return None if number != number else number
