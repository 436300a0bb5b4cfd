"""Settings, read from ``BORDERCAST_*`` environment variables.

Read through :func:`get_settings`, never at import time, so that tests and the
CLI can point one process at another database by clearing the cache.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The project root when running from a checkout; ``var/`` and ``data/`` live here.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every knob of Bordercast; each is ``BORDERCAST_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(env_prefix="BORDERCAST_", env_file=None, extra="ignore")

    database_url: str = Field(
        default_factory=lambda: f"sqlite:///{PROJECT_ROOT / 'var' / 'bordercast.db'}",
        description="SQLAlchemy URL; SQLite under var/ by default, PostgreSQL in production.",
    )
    model_dir: Path = Field(default_factory=lambda: PROJECT_ROOT / "var" / "models")
    data_dir: Path = Field(default_factory=lambda: PROJECT_ROOT / "data")
    api_key: SecretStr | None = None
    base_url: str = "http://127.0.0.1:8000"

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_starttls: bool = False
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_sender: str = "bordercast@localhost"
    smtp_timeout: float = Field(default=10.0, gt=0)

    webhook_timeout: float = Field(default=10.0, gt=0)
    webhook_retry_429: bool = True
    notify_max_attempts: int = Field(default=12, ge=1)
    notify_initial_delay: float = Field(default=60.0, ge=0)
    notify_backoff_factor: float = Field(default=2.0, ge=1)
    notify_max_delay: float = Field(default=21600.0, gt=0)
    notify_jitter: float = Field(default=0.1, ge=0, le=1)

    download_retries: int = Field(default=3, ge=0)
    download_timeout: float = Field(default=30.0, gt=0)

    indicator_lags: dict[str, int] = Field(
        default_factory=dict,
        description="Publication lag in months per transit source, over the defaults, as JSON: "
        '{"mexico-irregular": 1}.',
    )

    transit_watch: bool = Field(
        default=False,
        description="Let a jump in a nationality's Darién or Ecuador-entries count open a watch "
        "on its southwest series in the monthly detection (off: replayed over 2020-2025 it "
        "added false episodes, bench/transit_watch.py).",
    )

    train_indicators: bool = Field(
        default=False,
        description="Train the southwest series of citizenships with transit indicators "
        "with them where a backtest over the last 26 months says they help (off: exact "
        "as-of answers then take about 2 s, bench/as_of.py --indicators, and the bundled "
        "transit files end in 2025-04; over 2021-2024 they gained 0.4-0.7%, "
        "bench/indicators.py).",
    )

    refresh_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often the service checks the store for new data, models or alerts.",
    )

    task_runner: str = Field(default="thread", pattern="^(thread|process|dask)$")
    dask_address: str | None = None

    @field_validator("indicator_lags")
    @classmethod
    def _lags_not_negative(cls, value: dict[str, int]) -> dict[str, int]:
        bad = {k: v for k, v in value.items() if v < 0}
        if bad:
            raise ValueError(f"publication lags must be >= 0 months, got {bad}")
        return value


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings; ``get_settings.cache_clear()`` re-reads the environment."""
    return Settings()
