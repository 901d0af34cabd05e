"""Runs and stores an evaluation for a park (or an enterprise) and a year or month."""

from __future__ import annotations

import re
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import orjson
from sqlalchemy import Connection

from smartpark.checks.carbon import factor_set
from smartpark.checks.config import ChecksConfig
from smartpark.errors import ConfigurationError
from smartpark.evaluation.domain import Quantities, co2_tonnes, energy_accounts, evaluate
from smartpark.evaluation.indicators import load_energy_table, load_indicator_set
from smartpark.storage.checks import load_config
from smartpark.storage.evaluation import (
    inputs_for,
    period_consumption,
    save_evaluation,
    violations,
)
from smartpark.storage.registry import park_timezone

_PERIOD = re.compile(r"^(\d{4})(?:-(\d{2}))?$")


def parse_period(label: str) -> tuple[date, date]:
    """'2026' or '2026-11' → [first day, first day of the next period)."""
    match = _PERIOD.match(label)
    if not match:
        raise ConfigurationError(f"period {label!r} must look like 2026 or 2026-11")
    year = int(match.group(1))
    if match.group(2) is None:
        return date(year, 1, 1), date(year + 1, 1, 1)
    month = int(match.group(2))
    if not 1 <= month <= 12:
        raise ConfigurationError(f"period {label!r} has no month {month}")
    return date(year, month, 1), date(year + (month == 12), month % 12 + 1, 1)


def previous_period(label: str) -> str:
    """The same period one year earlier (year-on-year indicators compare with it)."""
    match = _PERIOD.match(label)
    assert match is not None
    year = int(match.group(1)) - 1
    return f"{year}" if match.group(2) is None else f"{year}-{match.group(2)}"


def quantities(
    conn: Connection, park: str, enterprise: str | None, label: str, config: ChecksConfig
) -> tuple[Quantities, dict[str, Any], str | None]:
    """Everything a subject's formulas use for a period, its energy accounts and factor version."""
    start, end = parse_period(label)
    metrics, coverage = period_consumption(conn, park, enterprise, start, end)
    accounts = energy_accounts(metrics, load_energy_table())
    factors = factor_set(config, start)
    co2 = (
        co2_tonnes(metrics, {m: f.kg_co2_per_unit for m, f in factors.co2.items()})
        if factors
        else None
    )
    q = Quantities(
        metrics, coverage, inputs_for(conn, park, enterprise, start, end), accounts["tce"], co2
    )
    accounts["co2_t"] = co2
    return q, accounts, factors.version if factors else None


def run_evaluation(
    conn: Connection, park: str, label: str, now: datetime, enterprise: str | None = None
) -> int:
    """Compute and store an evaluation; returns its id. Stored evaluations are never changed."""
    body = load_config(conn, park)
    if body is None:
        raise ConfigurationError(
            f"park {park!r} has no configuration: run `smartpark config import`"
        )
    config = ChecksConfig.model_validate(body)
    settings = config.evaluation
    spec = load_indicator_set(settings.indicator_set if settings else "miit-2016")
    current, accounts, factor_version = quantities(conn, park, enterprise, label, config)
    previous, _, _ = quantities(conn, park, enterprise, previous_period(label), config)
    has_previous = bool(previous.metrics or previous.inputs)
    start, end = parse_period(label)
    zone = ZoneInfo(park_timezone(conn, park))
    window = (datetime.combine(start, time(0), zone), datetime.combine(end, time(0), zone))
    result = evaluate(
        spec, current, previous if has_previous else None,
        violations(conn, park, enterprise, *window), settings.lead_overrides if settings else None,
    )  # fmt: skip
    result |= {
        "park": park, "enterprise": enterprise, "period": label, "accounts": accounts,
        "factor_version": factor_version, "coverage": current.coverage, "inputs": current.inputs,
        "indicator_set_name": spec.name, "indicator_set_source": spec.source,
    }  # fmt: skip
    return save_evaluation(conn, {
        "park": park, "enterprise": enterprise, "label": label, "start": start, "end": end,
        "set": spec.id, "version": spec.version, "factors": factor_version,
        "gate": result["gate"]["passed"], "index": result["green_index"],
        "result": orjson.dumps(result).decode(), "at": now,
    })  # fmt: skip
