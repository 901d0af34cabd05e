"""The metric catalogue: canonical units and kinds, loaded from package data and configuration."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from smartpark.errors import ConfigurationError

_NAME = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$")


class MetricKind(StrEnum):
    """How a metric's values behave over time."""

    COUNTER = "counter"
    GAUGE = "gauge"


@dataclass(frozen=True, slots=True)
class Metric:
    """One catalogue entry."""

    name: str
    unit: str
    kind: MetricKind
    description: str = ""
    minimum: float | None = None  # the physically possible range, in `unit`
    maximum: float | None = None


_KEYS = {"name", "unit", "kind", "description", "min", "max"}


def _bound(item: dict[str, Any], key: str, where: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if type(value) not in (int, float) or not math.isfinite(value):
        raise ConfigurationError(f"{where}.{key}: {value!r} is not a number")
    return float(value)


def _parse(doc: Any, source: str) -> list[Metric]:
    if not isinstance(doc, dict) or not isinstance(doc.get("metrics"), list):
        raise ConfigurationError(f"{source}: expected a mapping with a 'metrics' list")
    metrics = []
    for index, item in enumerate(doc["metrics"]):
        where = f"{source}: metrics[{index}]"
        if not isinstance(item, dict):
            raise ConfigurationError(f"{where}: expected a mapping")
        name, unit, kind = item.get("name"), item.get("unit"), item.get("kind")
        if unknown := sorted(set(item) - _KEYS, key=str):
            # An unquoted comma in a flow mapping makes extra keys: say so, don't drop text.
            raise ConfigurationError(
                f"{where}: unknown key(s) {', '.join(map(str, unknown))} for metric {name} "
                "(quote a description that contains a comma)"
            )
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigurationError(f"{where}.name: {name!r} is not a dotted lower-case name")
        if not isinstance(unit, str) or not unit:
            raise ConfigurationError(f"{where}.unit: missing for metric {name}")
        try:
            metric_kind = MetricKind(str(kind))
        except ValueError:
            raise ConfigurationError(
                f"{where}.kind: {kind!r} for metric {name}; expected counter or gauge"
            ) from None
        low, high = _bound(item, "min", where), _bound(item, "max", where)
        if low is not None and high is not None and low > high:
            raise ConfigurationError(f"{where}: min {low} is above max {high} for metric {name}")
        description = str(item.get("description", ""))
        metrics.append(Metric(name, unit, metric_kind, description, low, high))
    return metrics


def load_catalogue(extra_file: Path | None = None) -> dict[str, Metric]:
    """The built-in catalogue plus the optional extra file, by metric name."""
    text = resources.files("smartpark.data").joinpath("metrics.yaml").read_text("utf-8")
    catalogue = {m.name: m for m in _parse(yaml.safe_load(text), "metrics.yaml")}
    if extra_file is not None:
        try:
            extra_doc = yaml.safe_load(extra_file.read_text("utf-8"))
        except OSError as exc:
            raise ConfigurationError(f"cannot read metrics file {extra_file}: {exc}") from exc
        for metric in _parse(extra_doc, str(extra_file)):
            if metric.name in catalogue and catalogue[metric.name] != metric:
                raise ConfigurationError(
                    f"{extra_file}: metric {metric.name} is built in and cannot be redefined"
                )
            catalogue[metric.name] = metric
    return catalogue
