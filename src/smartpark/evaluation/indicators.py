"""Indicator sets (versioned data files) and the energy coefficients, validated."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from smartpark.errors import ConfigurationError, first_problem


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_M = TypeVar("_M", bound=BaseModel)


class Term(_Strict):
    """One quantity: a metric's consumption, an input, energy in tce, or CO2 in tonnes."""

    metric: str | None = None
    input: str | None = None
    energy_tce: Literal["all", "clean", "renewable"] | None = None
    co2_t: Literal["all"] | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Term:
        if sum(v is not None for v in (self.metric, self.input, self.energy_tce, self.co2_t)) != 1:
            raise ValueError("a term names exactly one of metric, input, energy_tce, co2_t")
        return self


class Formula(_Strict):
    """How an indicator's value is obtained."""

    kind: Literal["quotient", "share", "input", "reduction", "elasticity"]
    numerator: Term | list[Term] | None = None
    denominator: Term | list[Term] | None = None
    input: str | None = None
    scale: float = 1.0


class Indicator(_Strict):
    """One indicator of a set."""

    id: str
    zh: str
    en: str
    category: Literal[
        "energy", "resource", "infrastructure", "industry", "environment", "management"
    ]
    unit: str
    direction: Literal["higher", "lower"]
    lead: float = Field(gt=0)
    group: str | None = None  # None: mandatory
    value: Formula


class InputSpec(_Strict):
    """A periodic input no sensor measures, with its unit and range."""

    unit: str
    name: str
    min: float | None = None
    max: float | None = None


class GateItem(_Strict):
    """A basic requirement: an input compared to a value, or a count of violations."""

    id: str
    text: str
    op: Literal["eq", "ge", "le"]
    value: float
    input: str | None = None
    violations: list[str] | None = None  # check-name prefixes counted in the period


class Group(_Strict):
    """Optional indicators of which `choose` count."""

    choose: int = Field(ge=1)
    text: str


class IndexSpec(_Strict):
    """The green index aggregation parameters."""

    cap: float = Field(gt=0)
    source: str


class IndicatorSet(_Strict):
    """A whole indicator set file."""

    id: str
    version: str
    name: str
    source: str
    index: IndexSpec
    inputs: dict[str, InputSpec]
    gate: list[GateItem]
    groups: dict[str, Group] = Field(default_factory=dict)
    indicators: list[Indicator]

    @model_validator(mode="after")
    def _references(self) -> IndicatorSet:
        for ind in self.indicators:
            if ind.group is not None and ind.group not in self.groups:
                raise ValueError(f"indicator {ind.id}: unknown group {ind.group!r}")
        return self


class Carrier(_Strict):
    """An energy carrier's standard-coal coefficient and classification."""

    kgce_per_unit: float = Field(gt=0)
    clean: bool
    renewable: bool
    source: str


class EnergyTable(_Strict):
    """Standard-coal coefficients for every energy metric."""

    source: str
    carriers: dict[str, Carrier]


def _parse(model: type[_M], text: str, source: str) -> _M:
    try:
        return model.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        raise ConfigurationError(first_problem(exc, source)) from None


def load_indicator_set(name_or_path: str) -> IndicatorSet:
    """A shipped set by id (miit-2016, miit-2024) or a set file by path."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml"):
        try:
            return _parse(IndicatorSet, path.read_text("utf-8"), str(path))
        except OSError as exc:
            raise ConfigurationError(f"cannot read indicator set {path}: {exc}") from exc
    return _shipped_set(name_or_path)


@lru_cache(maxsize=8)
def _shipped_set(name: str) -> IndicatorSet:
    # Package data does not change while the process runs: read and validate it once.
    package = resources.files("smartpark.data.indicators")
    entry = package.joinpath(f"{name}.yaml")
    if not entry.is_file():
        shipped = sorted(
            p.name.removesuffix(".yaml") for p in package.iterdir() if p.name.endswith(".yaml")
        )
        raise ConfigurationError(f"no indicator set {name!r}; shipped: {', '.join(shipped)}")
    return _parse(IndicatorSet, entry.read_text("utf-8"), entry.name)


@lru_cache(maxsize=1)
def load_energy_table() -> EnergyTable:
    """The shipped GB/T 2589 coefficients."""
    text = resources.files("smartpark.data").joinpath("energy.yaml").read_text("utf-8")
    return _parse(EnergyTable, text, "energy.yaml")
