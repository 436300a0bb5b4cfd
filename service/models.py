"""Request and response bodies: one pydantic model per shape, ``response_model`` on every route.

The forecast and alert shapes are those of ``bordercast forecast --json`` and
``bordercast detect --json`` (the library builds them; these models document
and check them). Request models are separate from response models, so a
field a caller may send (a webhook secret) never appears in an answer.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, RootModel, SecretStr, model_validator

Region = Literal["all", "southwest", "northern", "other"]
Component = Literal["all", "usbp", "ofo"]
Severity = Literal["watch", "warning", "critical"]
AlertKind = Literal["surge", "drop"]
AlertStatus = Literal["open", "escalated", "resolved"]
#: The transit indicators a scenario may edit (``forecasting.leading.SOURCES``).
IndicatorSource = Literal["panama-darien", "mexico-irregular", "entries-ECU"]

#: A calendar month as the CLI writes it; years outside 1900-2099 are refused up front.
MONTH_PATTERN = r"^(19|20)\d{2}-(0[1-9]|1[0-2])$"
Month = Annotated[str, Field(pattern=MONTH_PATTERN, examples=["2023-07"])]


class FieldError(BaseModel):
    """One invalid parameter, as FastAPI reports it: ``loc`` ends with the parameter's name."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Every error answer: what went wrong, and for an unknown citizenship the closest names.

    ``detail`` is a sentence, or for a request that fails validation the list
    of invalid parameters, each named in ``loc``.
    """

    detail: str | list[FieldError]
    suggestions: list[str] | None = None
    reason: str | None = None


class Health(BaseModel):
    """Liveness only: answers before any model exists and never touches the database."""

    status: Literal["ok"] = "ok"
    version: str
    retraining: bool


class CitizenshipOut(BaseModel):
    code: str = Field(examples=["CN"])
    name: str = Field(examples=["China"])


class SeriesOut(BaseModel):
    """One series, as ``bordercast series --json`` lists it (plus months and total)."""

    code: str
    name: str
    region: str
    component: str
    first_month: str
    last_month: str
    months: int
    last_count: int
    total: int
    reporting: bool = Field(description="False when the source stopped listing the series.")


class SeriesList(RootModel[list[SeriesOut]]):
    pass


class SeriesAnswer(BaseModel):
    """Fields every per-series answer has: which series it is, and any default applied."""

    citizenship: CitizenshipOut
    region: str
    component: str
    as_of: str | None = Field(None, description="The cut-off asked for, if any.")
    note: str | None = Field(
        None, description="Set when region or component was chosen by default and is not 'all'."
    )


class HistoryPoint(BaseModel):
    month: str
    count: int


class HistoryOut(SeriesAnswer):
    history: list[HistoryPoint]


class PartialYears(BaseModel):
    fiscal: list[str]
    calendar: list[str]


class StatsOut(SeriesAnswer):
    """Totals and trailing means, so that figures quoted in reporting can be checked."""

    fiscal_years: dict[str, int] = Field(
        description="Fiscal year (October-September, named for the year it ends) -> total."
    )
    calendar_years: dict[str, int]
    partial_years: PartialYears = Field(description="Years with fewer than 12 months of data.")
    trailing_12m_mean: float | None = Field(description="Mean of the 12 months to last_month.")
    previous_12m_mean: float | None
    trailing_12m_change_pct: float | None = Field(
        description="Percent change of the trailing 12-month mean against the 12 months before."
    )
    last_month: str
    last_count: int
    last_month_yoy_change_pct: float | None


class ForecastPoint(BaseModel):
    month: str
    mean: float
    lower: float
    upper: float


class ModelInfo(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    version: int | None = Field(description="Registry version; null for an as-of refit.")
    kind: str
    data_cutoff: str | None = Field(default=None, description="Last month the model saw.")
    metrics: dict[str, Any] = Field(default_factory=dict)
    effects: dict[str, float] = Field(
        default_factory=dict, description="Policy effects of the Prophet member (relative change)."
    )
    exact: bool = Field(
        default=True,
        description="False for an as-of answer refitted on the series alone, when no training "
        "plan of that month is kept (`bordercast backfill` keeps them).",
    )


class ForecastOut(BaseModel):
    """The shape of ``bordercast forecast --json``."""

    model_config = ConfigDict(protected_namespaces=())

    citizenship: CitizenshipOut
    region: str
    component: str
    as_of: str = Field(description="The last month of data the forecast used.")
    status: str = Field(
        default="ok", description="ok, sparse (a simple model), or stopped (not forecast)."
    )
    message: str = ""
    model: ModelInfo
    level: int = Field(description="Interval coverage in percent.")
    forecast: list[ForecastPoint]


class AlertOut(BaseModel):
    """One alert, as in ``bordercast detect --json``."""

    id: str | int
    citizenship: CitizenshipOut
    region: str
    component: str
    month: str
    opened: str | None = Field(default=None, description="Month the episode opened.")
    kind: str
    severity: str
    observed: float
    expected: float | None = None
    lower: float | None = None
    upper: float | None = None
    status: str
    reason: str | None = Field(
        default=None,
        description="The transit indicator and its change, when one opened the alert as a "
        "watch; null when the U.S. counts opened it.",
    )


class AlertsOut(BaseModel):
    """``as_of`` is null when the stored alerts are listed, the cut-off when detection ran."""

    as_of: str | None
    alerts: list[AlertOut]


class BacktestOut(BaseModel):
    """Per-model backtest metrics (MASE, sMAPE, AvgRelMAE, coverage per horizon).

    The library owns the exact fields; the service passes them through.
    """

    model_config = ConfigDict(extra="allow")

    citizenship: CitizenshipOut | None = None
    region: str | None = None
    component: str | None = None


def _all_regions() -> list[Region]:
    return ["all"]


class PolicyEventIn(BaseModel):
    """An event to add in a scenario, as in ``data/policy_events.yaml``."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    date: dt.date
    announced: dt.date | None = Field(None, description="Defaults to the date itself.")
    kind: Literal["step", "pulse"] = "step"
    citizenships: list[str] = Field(
        default_factory=list, description="Codes; empty means the scenario's citizenship."
    )
    regions: list[Region] = Field(default_factory=_all_regions)
    source: str = Field("scenario", max_length=500)


class IndicatorPathIn(BaseModel):
    """A transit indicator's path in a scenario: a change from a month on, or monthly counts.

    ``change_pct`` scales the last published count, carried forward, from
    ``from`` on (by default the month after the last published one);
    ``values`` give counts for months of their own, each carried forward to
    the next. Only months after the last published one can be edited.
    """

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"source": "panama-darien", "change_pct": -90},
                {"source": "panama-darien", "change_pct": -90, "from": "2025-01"},
                {"source": "entries-ECU", "values": {"2024-12": 1000, "2025-03": 500}},
            ]
        },
    )

    source: IndicatorSource = Field(
        description="panama-darien (Darién crossings), mexico-irregular (Mexico's irregular "
        "migrants) or entries-ECU (regular entries into Ecuador).",
        examples=["panama-darien"],
    )
    change_pct: float | None = Field(
        None,
        ge=-100,
        le=100_000,
        allow_inf_nan=False,
        description="Percent change of the carried-forward count (-90: a tenth of it); "
        "exclusive with values.",
        examples=[-90],
    )
    from_: Annotated[str, Field(pattern=MONTH_PATTERN)] | None = Field(
        None,
        alias="from",
        description="First month of the change (YYYY-MM); defaults to the month after the "
        "indicator's last published month. With change_pct only.",
        examples=["2025-01"],
    )
    values: (
        dict[
            Annotated[str, Field(pattern=MONTH_PATTERN)],
            Annotated[float, Field(ge=0, allow_inf_nan=False)],
        ]
        | None
    ) = Field(
        None,
        min_length=1,
        max_length=36,
        description="Month (YYYY-MM) -> count; exclusive with change_pct.",
        examples=[{"2024-12": 1000, "2025-03": 500}],
    )

    @model_validator(mode="after")
    def _one_path(self) -> Self:
        if (self.change_pct is None) == (self.values is None):
            raise ValueError("give exactly one of change_pct and values")
        if self.values is not None and self.from_ is not None:
            raise ValueError("from applies to change_pct only; values give their own months")
        return self

    def edit(self) -> dict[str, Any]:
        """The library's shape of the path (``forecasting.indicator_scenarios.parse_edit``)."""
        out: dict[str, Any] = {"source": self.source}
        if self.change_pct is not None:
            out["change_pct"] = self.change_pct
        if self.from_ is not None:
            out["from"] = self.from_
        if self.values is not None:
            out["values"] = dict(self.values)
        return out


class ScenarioIn(BaseModel):
    """A forecast from the current model with policy events or transit indicator paths edited."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "citizenship": "CN",
                    "region": "southwest",
                    "indicators": [{"source": "panama-darien", "change_pct": -90}],
                },
                {"citizenship": "CN", "remove_event_ids": ["title42-end"]},
            ]
        },
    )

    citizenship: str = Field(min_length=1, max_length=100, examples=["CN"])
    region: Region | None = None
    component: Component | None = None
    horizon: int = Field(12, ge=1, le=36)
    level: int = Field(80, ge=50, le=99)
    add_events: list[PolicyEventIn] = Field(default_factory=list, max_length=20)
    remove_event_ids: list[str] = Field(default_factory=list, max_length=100)
    move: dict[str, dt.date] = Field(
        default_factory=dict, description="Event id -> new effective date."
    )
    indicators: list[IndicatorPathIn] = Field(
        default_factory=list,
        max_length=3,
        description="Transit indicator paths, one per source; combinable with the event edits.",
    )


class IndicatorEffectPoint(BaseModel):
    """How far the indicator paths move one forecast month."""

    month: str = Field(examples=["2025-01"])
    log_change: float = Field(
        description="The log1p shift applied to the mean and both bounds.", examples=[-0.23]
    )
    change_pct: float = Field(
        description="100 * (exp(log_change) - 1): the percent change for counts well above 1.",
        examples=[-20.9],
    )


class IndicatorPathPoint(BaseModel):
    """One month of an indicator after its last published month."""

    month: str = Field(examples=["2024-12"])
    carried: float = Field(description="The last published count carried forward (no change).")
    scenario: float = Field(description="The count the scenario assumes.")


class IndicatorPathOut(BaseModel):
    """An indicator path the scenario used, with what the relay made of it."""

    model_config = ConfigDict(populate_by_name=True)

    id: str = Field(examples=["panama-darien:CN"])
    source: str = Field(examples=["panama-darien"])
    change_pct: float | None = Field(description="As asked; null for explicit values.")
    from_: str | None = Field(alias="from", description="First month changed (change_pct only).")
    values: dict[str, float] | None = Field(description="As asked; null for change_pct.")
    last_published: str = Field(
        description="The indicator's last month public at the forecast's data cut-off."
    )
    lag_months: int = Field(description="Months after CBP's month M that its month M is public.")
    lead_months: int | None = Field(
        description="The route's lead on the encounters (null for a source the relay never reads)."
    )
    correlation: float | None = Field(description="Log-level correlation at that lead.")
    used: bool = Field(description="Whether the relay reads it (else no effect).")
    note: str = Field("", description="Why the path moves the forecast little or not at all.")
    path: list[IndicatorPathPoint]
    effect: list[IndicatorEffectPoint] = Field(description="This path's effect alone, per month.")


class ScenarioOut(BaseModel):
    baseline: ForecastOut
    scenario: ForecastOut
    events: list[dict[str, Any]] = Field(description="The events the scenario used.")
    indicators: list[IndicatorPathOut] = Field(
        default_factory=list, description="The indicator paths the scenario used."
    )
    indicator_effect: list[IndicatorEffectPoint] = Field(
        default_factory=list,
        description="The indicator paths' effect together, per month (empty without paths).",
    )


class SubscriptionIn(BaseModel):
    """A new subscription; ``secret`` (webhooks only, 16+ characters) signs each POST."""

    model_config = ConfigDict(extra="forbid")

    channel: Literal["email", "webhook"]
    target: str = Field(min_length=3, max_length=2000)
    secret: SecretStr | None = None
    citizenships: list[str] = Field(default_factory=list, max_length=300)
    regions: list[Region] = Field(default_factory=list)
    components: list[Component] = Field(default_factory=list)
    min_severity: Severity = "watch"


class SubscriptionOut(BaseModel):
    """A stored subscription; never the secret."""

    id: int
    channel: str
    target: str
    citizenships: list[str]
    regions: list[str]
    components: list[str]
    min_severity: str
    created_at: dt.datetime | None = None


class RetrainIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    series: list[Annotated[str, Field(pattern=r"^[A-Za-z]+:[a-z]+:[a-z]+$")]] | None = Field(
        None, description="Series ids such as CN:southwest:usbp; null retrains every series."
    )


class JobOut(BaseModel):
    """A retrain job; poll ``GET /v1/admin/retrain/{id}`` until it finishes."""

    id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    series: list[str] | None
    submitted_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    result: dict[str, Any] | None = None
    error: str | None = None
