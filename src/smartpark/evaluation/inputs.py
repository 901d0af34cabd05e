"""Periodic inputs from CSV: validated (keys, units, ranges, periods) before anything is stored."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from sqlalchemy import Connection

from smartpark.errors import ConfigurationError
from smartpark.evaluation.indicators import InputSpec, load_indicator_set
from smartpark.evaluation.service import parse_period
from smartpark.storage.evaluation import save_input

COLUMNS = ("park", "enterprise", "period", "key", "value", "unit")
SHIPPED_SETS = ("miit-2016", "miit-2024")


@dataclass(frozen=True, slots=True)
class InputRow:
    """One validated input."""

    park: str
    enterprise: str | None
    period: str
    key: str
    value: float
    unit: str


def validate(
    park: str,
    enterprise: str | None,
    period: str,
    key: str,
    value: float,
    unit: str,
    specs: dict[str, InputSpec],
) -> InputRow:
    """One input checked against the indicator sets' declarations; errors name the field."""
    spec = specs.get(key)
    if spec is None:
        raise ConfigurationError(f"key: unknown input {key!r}; known: {', '.join(sorted(specs))}")
    if unit != spec.unit:
        raise ConfigurationError(f"unit: {key} is entered in {spec.unit!r}, not {unit!r}")
    if spec.min is not None and value < spec.min:
        raise ConfigurationError(f"value: {key} must be at least {spec.min:g}, got {value:g}")
    if spec.max is not None and value > spec.max:
        raise ConfigurationError(f"value: {key} must be at most {spec.max:g}, got {value:g}")
    parse_period(period)
    return InputRow(park, enterprise or None, period, key, value, unit)


def parse_csv(text: str, specs: dict[str, InputSpec], source: str) -> list[InputRow]:
    """Every row of a CSV with columns park,enterprise,period,key,value,unit, or an error
    naming the line and the field; nothing is stored unless the whole file is valid."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise ConfigurationError(
            f"{source}: missing column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}"
        )
    rows = []
    for line, record in enumerate(reader, start=2):
        try:
            try:
                value = float(record["value"])
            except ValueError:
                raise ConfigurationError(f"value: {record['value']!r} is not a number") from None
            rows.append(
                validate(
                    record["park"],
                    record["enterprise"],
                    record["period"],
                    record["key"],
                    value,
                    record["unit"],
                    specs,
                )
            )
        except ConfigurationError as exc:
            raise ConfigurationError(f"{source}: line {line}: {exc}") from None
    return rows


def input_specs() -> dict[str, InputSpec]:
    """Every input the shipped indicator sets declare."""
    specs: dict[str, InputSpec] = {}
    for name in SHIPPED_SETS:
        specs |= load_indicator_set(name).inputs
    return specs


def store(conn: Connection, row: InputRow, by: str) -> None:
    """Store (or correct) a validated input for its period, kept with who entered it."""
    start, end = parse_period(row.period)
    save_input(conn, {
        "park": row.park, "enterprise": row.enterprise, "start": start, "end": end,
        "key": row.key, "value": row.value, "unit": row.unit, "by": by,
    })  # fmt: skip
