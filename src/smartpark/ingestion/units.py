"""Unit conversion to a metric's canonical unit.

Devices: only the spellings of `data/units.yaml`, converted by a table computed once.
Trusted expressions from the catalogue and park configuration (`(mg/m3)*(m3/h)*h` → `kg`):
pint, cached per unit pair.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

import pint
import yaml

from smartpark.errors import ConfigurationError, RejectedReading
from smartpark.ingestion.quoting import quote

# Meter-style notations ("m3", "Nm3/h") that pint's parser does not know; "%" for percent.
_POWER = re.compile(r"(?<=[A-Za-z])([23])(?![\d.])")
_NORMAL = re.compile(r"\bNm(?=[23])")
# Units that are labels on a scale rather than quantities: only the identical unit is accepted.
_SCALES = frozenset({"pH"})


@dataclass(frozen=True, slots=True)
class UnitTable:
    """Every accepted device spelling, and (scale, offset) for every same-dimension pair."""

    spellings: frozenset[str]
    longest: int
    pairs: dict[tuple[str, str], tuple[float, float]]


@lru_cache(maxsize=1)
def unit_table() -> UnitTable:
    """The device unit table from package data, with every pair's conversion precomputed."""
    text = resources.files("smartpark.data").joinpath("units.yaml").read_text("utf-8")
    doc = yaml.safe_load(text)
    pairs: dict[tuple[str, str], tuple[float, float]] = {}
    spellings: set[str] = set()
    for dimension, units in doc["dimensions"].items():
        factors = {name: _factor(dimension, name, value) for name, value in units.items()}
        if spellings & set(factors):
            raise ConfigurationError(f"units.yaml: a spelling of {dimension} is listed twice")
        spellings |= set(factors)
        for source, (a_scale, a_offset) in factors.items():
            for target, (b_scale, b_offset) in factors.items():
                # base = v * a_scale + a_offset; target = (base - b_offset) / b_scale
                pairs[source, target] = (
                    _clean(a_scale / b_scale),
                    _clean((a_offset - b_offset) / b_scale),
                )
    return UnitTable(frozenset(spellings), max(map(len, spellings)), pairs)


def _factor(dimension: str, name: str, value: Any) -> tuple[float, float]:
    if isinstance(value, list) and len(value) == 2:
        return float(value[0]), float(value[1])
    if isinstance(value, int | float) and value > 0:
        return float(value), 0.0
    raise ConfigurationError(f"units.yaml: {dimension}.{name}: expected a factor, got {value!r}")


def device_conversion(from_unit: str, to_unit: str) -> tuple[float, float]:
    """(scale, offset) from a device's spelling to a canonical unit; RejectedReading if none."""
    if from_unit == to_unit:
        return 1.0, 0.0
    table = unit_table()
    pair = table.pairs.get((from_unit, to_unit))
    if pair is not None:
        return pair
    if from_unit not in table.spellings:
        raise RejectedReading(f"unknown unit {quote(from_unit)}")
    raise RejectedReading(f"unit {quote(from_unit)} cannot be converted to {to_unit!r}")


def conversion(from_unit: str, to_unit: str) -> tuple[float, float]:
    """(scale, offset) for trusted unit expressions; RejectedReading if impossible."""
    if from_unit == to_unit:
        return 1.0, 0.0
    result = _cached(from_unit, to_unit)
    if isinstance(result, str):
        raise RejectedReading(result)
    return result


def _preprocess(unit: str) -> str:
    unit = _NORMAL.sub("m", unit.strip())
    return _POWER.sub(r"**\1", unit).replace("%", "percent")


@lru_cache(maxsize=1)
def _registry() -> Any:
    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


@lru_cache(maxsize=256)
def _cached(from_unit: str, to_unit: str) -> tuple[float, float] | str:
    # Failures are cached too, as their reason; only trusted text reaches here.
    try:
        return _compute(from_unit, to_unit)
    except RejectedReading as exc:
        return str(exc)


def _compute(from_unit: str, to_unit: str) -> tuple[float, float]:
    if from_unit in _SCALES or to_unit in _SCALES:
        raise RejectedReading(f"unit {from_unit!r} cannot be converted to {to_unit!r}")
    ureg = _registry()
    try:
        source = ureg.Quantity(0.0, _preprocess(from_unit))
        zero = source.to(_preprocess(to_unit)).magnitude
        one = ureg.Quantity(1.0, _preprocess(from_unit)).to(_preprocess(to_unit)).magnitude
    except pint.errors.UndefinedUnitError:
        raise RejectedReading(f"unknown unit {from_unit!r}") from None
    except (pint.errors.DimensionalityError, pint.errors.DefinitionSyntaxError, ValueError):
        raise RejectedReading(f"unit {from_unit!r} cannot be converted to {to_unit!r}") from None
    # pint goes through base units; round away the binary noise that leaves (1 L = 0.001 m3).
    return _clean(one - zero), _clean(zero)


def _clean(number: float) -> float:
    return float(f"{number:.15g}")


def to_canonical(value: float, from_unit: str, to_unit: str) -> float:
    """`value` in the trusted unit expression `from_unit` expressed in `to_unit`."""
    scale, offset = conversion(from_unit, to_unit)
    return value * scale + offset
