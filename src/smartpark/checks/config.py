"""Checks configuration: every limit, target, permit and factor as data with its source."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from smartpark.errors import ConfigurationError, first_problem


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Sourced(_Strict):
    """Anything that is a number from a standard, permit or decision carries its source."""

    source: str = Field(min_length=3)


class Validity(Sourced):
    """CEMS data validity (HJ 75-2017): what makes an hour and a day valid."""

    min_valid_minutes_per_hour: int = Field(ge=1, le=60)
    min_valid_hours_per_day: int = Field(ge=1, le=24)
    valid_flags: list[Literal["N", "S"]] = Field(min_length=1)
    air_oxygen_percent: float = Field(gt=0, le=100)


class Ratio(Sourced):
    """A recycling ratio: sum(numerator metrics) / sum(denominator metrics), against a target."""

    numerator: list[str] = Field(min_length=1)
    denominator: list[str] = Field(min_length=1)
    target: float = Field(gt=0, le=1)
    min_coverage: float = Field(gt=0, le=1)  # share of the window's hours that must have data
    windows: tuple[Literal["day", "month"], ...] = ("day", "month")
    severity: Literal["info", "warning", "critical"] = "warning"


class Limit(_Strict):
    """Concentration limits of one pollutant at an outlet (canonical unit of the metric)."""

    hourly: float | None = Field(default=None, gt=0)
    daily: float | None = Field(default=None, gt=0)


class Outlet(Sourced):
    """A stack or wastewater outlet of an enterprise, with its limits."""

    enterprise: str
    outlet: str
    kind: Literal["stack", "water"]
    reference_o2: float | None = Field(default=None, ge=0, lt=21)
    flow_metric: str
    limits: dict[str, Limit] = Field(min_length=1)

    @model_validator(mode="after")
    def _stack_needs_o2(self) -> Outlet:
        if self.kind == "stack" and self.reference_o2 is None:
            raise ValueError("a stack outlet needs reference_o2")
        return self


class Permit(Sourced):
    """A permitted amount of a pollutant at an outlet for a period."""

    enterprise: str
    outlet: str
    pollutant: str
    period: Literal["month", "year", "rolling_12_months"]
    amount_t: float = Field(gt=0)
    warn_at_pace: float = Field(default=1.0, gt=0)  # warn when the projection exceeds this share


class Factor(Sourced):
    """An emission factor for one energy carrier (canonical unit of the metric)."""

    kg_co2_per_unit: float = Field(ge=0)


class FactorSet(Sourced):
    """A versioned set of CO2 factors."""

    version: str
    valid_from: date
    co2: dict[str, Factor]


class AlertPolicy(Sourced):
    """How alerts resolve: the condition must stay clear (with hysteresis) for `hold_minutes`."""

    hold_minutes: int = Field(ge=0)
    hysteresis: float = Field(ge=0, lt=1)


class DataHealth(Sourced):
    """When a device counts as silent or a sensor as stuck."""

    silent_minutes: int = Field(ge=1)
    stuck_hours: int = Field(ge=1)


class EvaluationSettings(Sourced):
    """Which indicator set the park is evaluated against, and its own lead values."""

    indicator_set: str = "miit-2016"
    lead_overrides: dict[str, float] = Field(default_factory=dict)


class ChecksConfig(_Strict):
    """One park's checks configuration (`smartpark config import`)."""

    park: str
    validity: Validity
    ratios: dict[str, Ratio] = Field(default_factory=dict)
    enterprise_targets: dict[str, dict[str, float]] = Field(default_factory=dict)
    outlets: list[Outlet] = Field(default_factory=list)
    permits: list[Permit] = Field(default_factory=list)
    factors: list[FactorSet] = Field(default_factory=list)
    carbon_budget_t: dict[str, float] = Field(default_factory=dict)  # per enterprise, per month
    # Warn when the month's pace projects more than this share of the budget (1.0: the budget).
    carbon_warn_at_pace: float = Field(default=1.0, gt=0)
    alerts: AlertPolicy
    data_health: DataHealth | None = None  # None: no data-health checks
    schedules: dict[str, str] = Field(default_factory=dict)  # job -> cron expression
    evaluation: EvaluationSettings | None = None

    def target(self, ratio: str, enterprise: str | None) -> float:
        """An enterprise's own target, or the park default."""
        own = self.enterprise_targets.get(enterprise or "", {}).get(ratio)
        return own if own is not None else self.ratios[ratio].target


def parse_config(doc: object, source: str, known_metrics: set[str]) -> ChecksConfig:
    """Validate a configuration document; ConfigurationError names the field."""
    try:
        config = ChecksConfig.model_validate(doc)
    except ValidationError as exc:
        raise ConfigurationError(first_problem(exc, source)) from None
    for name, ratio in config.ratios.items():
        for metric in ratio.numerator + ratio.denominator:
            if metric not in known_metrics:
                raise ConfigurationError(f"{source}: ratios.{name}: unknown metric {metric!r}")
    for enterprise, targets in config.enterprise_targets.items():
        for ratio_name, value in targets.items():
            if ratio_name not in config.ratios:
                raise ConfigurationError(
                    f"{source}: enterprise_targets.{enterprise}.{ratio_name}: no such ratio"
                )
            if not 0 < value <= 1:
                raise ConfigurationError(
                    f"{source}: enterprise_targets.{enterprise}.{ratio_name}: {value} is not a "
                    "share between 0 and 1"
                )
    for i, outlet in enumerate(config.outlets):
        for metric in [outlet.flow_metric, *outlet.limits]:
            if metric not in known_metrics:
                raise ConfigurationError(f"{source}: outlets.{i}: unknown metric {metric!r}")
    return config


def load_config_file(path: Path, known_metrics: set[str]) -> ChecksConfig:
    """Read and validate a configuration file."""
    try:
        doc = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(f"cannot read {path}: {exc}") from exc
    return parse_config(doc, str(path), known_metrics)
