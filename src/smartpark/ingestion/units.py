"""Unit conversion to a metric's canonical unit, through pint, cached per unit pair."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import pint

from smartpark.errors import RejectedReading

# Meter-style notations ("m3", "Nm3/h") that pint's parser does not know; "%" for percent.
_POWER = re.compile(r"(?<=[A-Za-z])([23])(?![\d.])")
_NORMAL = re.compile(r"\bNm(?=[23])")
# Units that are labels on a scale rather than quantities: only the identical unit is accepted.
_SCALES = frozenset({"pH"})


def _preprocess(unit: str) -> str:
    unit = _NORMAL.sub("m", unit.strip())
    return _POWER.sub(r"**\1", unit).replace("%", "percent")


@lru_cache(maxsize=1)
def _registry() -> Any:
    return pint.UnitRegistry(autoconvert_offset_to_baseunit=True)


def conversion(from_unit: str, to_unit: str) -> tuple[float, float]:
    """(scale, offset) with canonical = value * scale + offset; RejectedReading if impossible."""
    if from_unit == to_unit:
        return 1.0, 0.0
    result = _cached(from_unit, to_unit)
    if isinstance(result, str):
        raise RejectedReading(result)
    return result


@lru_cache(maxsize=1024)
def _cached(from_unit: str, to_unit: str) -> tuple[float, float] | str:
    # Failures are cached too, as their reason: a misconfigured device repeats its unit.
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
    """`value` in `from_unit` expressed in `to_unit`."""
    scale, offset = conversion(from_unit, to_unit)
    return value * scale + offset
