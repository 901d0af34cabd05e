"""The checks' arithmetic as pure functions: validity, O2 correction, ratios, amounts, pace.

Each takes its inputs (and `now` where time matters) explicitly; tests use hand-computed
numbers. Thresholds come from the configuration (checks/config.py), never from here.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple

from smartpark.checks.config import Validity
from smartpark.ingestion.units import to_canonical


class Status(StrEnum):
    """What a check found for one subject and window."""

    OK = "ok"
    VIOLATION = "violation"  # a limit exceeded, a target missed, a permit breached
    WARNING = "warning"  # on course to a violation (permit pace)
    INSUFFICIENT = "insufficient_data"  # not enough valid data to judge
    INVALID = "invalid"  # a CEMS hour or day that is not valid under the rules


class HourAgg(NamedTuple):
    """An hour's rollup of one metric: normal (N) and manual (S) samples."""

    # A tuple: a month's check cycle builds tens of thousands (see ingestion.types.Reading).

    n_normal: int
    sum_normal: float
    n_manual: int = 0
    sum_manual: float = 0.0


@dataclass(frozen=True, slots=True)
class Outcome:
    """A check's verdict with the value, limit and coverage that explain it."""

    status: Status
    value: float | None
    limit: float | None
    coverage: float
    note: str = ""


def valid_mean(agg: HourAgg, validity: Validity) -> tuple[float | None, int]:
    """Mean of the hour's valid samples and their count (S counts only if configured)."""
    n, total = agg.n_normal, agg.sum_normal
    if "S" in validity.valid_flags:
        n, total = n + agg.n_manual, total + agg.sum_manual
    return (total / n if n else None), n


def o2_corrected(measured: float, o2_measured: float, o2_reference: float, air_o2: float) -> float:
    """C_ref = C_meas x (air - O2_ref) / (air - O2_meas) (HJ 75-2017)."""
    if o2_measured >= air_o2:
        raise ValueError(f"measured O2 {o2_measured}% is not below air's {air_o2}%")
    return measured * (air_o2 - o2_reference) / (air_o2 - o2_measured)


def hourly_concentration(
    conc: HourAgg | None,
    o2: HourAgg | None,
    o2_reference: float | None,
    limit: float,
    validity: Validity,
) -> Outcome:
    """An hour's mean of valid minutes, O2-corrected for stacks, against the hourly limit.

    An hour with fewer valid minutes than the rule requires is INVALID and never compared;
    exactly at the limit is compliant.
    """
    need = validity.min_valid_minutes_per_hour
    mean, n = valid_mean(conc, validity) if conc else (None, 0)
    if mean is None or n < need:
        return Outcome(Status.INVALID, mean, limit, n / 60, f"{n} valid minutes, {need} needed")
    if o2_reference is not None:
        o2_mean, o2_n = valid_mean(o2, validity) if o2 else (None, 0)
        if o2_mean is None or o2_n < need:
            note = f"O2 has {o2_n} valid minutes, {need} needed"
            return Outcome(Status.INVALID, None, limit, o2_n / 60, note)
        mean = o2_corrected(mean, o2_mean, o2_reference, validity.air_oxygen_percent)
    status = Status.VIOLATION if mean > limit else Status.OK
    return Outcome(status, mean, limit, n / 60)


def daily_concentration(hourly: list[float | None], limit: float, validity: Validity) -> Outcome:
    """Mean of a day's valid hourly values (None = invalid hour), if there are enough."""
    valid = [v for v in hourly if v is not None]
    need = validity.min_valid_hours_per_day
    if len(valid) < need:
        return Outcome(
            Status.INVALID, None, limit, len(valid) / 24, f"{len(valid)} valid hours, {need} needed"
        )
    mean = sum(valid) / len(valid)
    return Outcome(Status.VIOLATION if mean > limit else Status.OK, mean, limit, len(valid) / 24)


def ratio(
    numerator: float, denominator: float, coverage: float, target: float, min_coverage: float
) -> Outcome:
    """numerator / denominator against a target share; too little data is said, not guessed."""
    if coverage < min_coverage:
        note = f"data for {coverage:.0%} of the window, {min_coverage:.0%} needed"
        return Outcome(Status.INSUFFICIENT, None, target, coverage, note)
    if denominator <= 0:
        return Outcome(Status.INSUFFICIENT, None, target, coverage, "nothing to divide by")
    value = numerator / denominator
    return Outcome(Status.VIOLATION if value < target else Status.OK, value, target, coverage)


def hourly_mass_kg(conc_mean: float, conc_unit: str, flow_mean: float, flow_unit: str) -> float:
    """Mass emitted in one hour: concentration x flow x 1 h, in kg (units converted by pint)."""
    return conc_mean * flow_mean * to_canonical(1.0, f"({conc_unit})*({flow_unit})*h", "kg")


def permit_pace(
    used_t: float, permitted_t: float, elapsed_share: float, warn_at_pace: float, coverage: float
) -> Outcome:
    """Breach when the amount is exceeded; warning when the pace projects an exceedance.

    `elapsed_share` is how much of the period the amount covers (for permits: the hours
    with valid data over the period's hours, so a gap is assumed to emit at the same pace).
    """
    if used_t > permitted_t:
        return Outcome(Status.VIOLATION, used_t, permitted_t, coverage, "permitted amount exceeded")
    if elapsed_share <= 0:
        return Outcome(Status.OK, used_t, permitted_t, coverage)
    projected = used_t / elapsed_share
    if projected > permitted_t * warn_at_pace:
        note = f"on pace for {projected:.1f} t of {permitted_t:.1f} t"
        return Outcome(Status.WARNING, used_t, permitted_t, coverage, note)
    return Outcome(Status.OK, used_t, permitted_t, coverage, f"on pace for {projected:.1f} t")


def still_violating(value: float, limit: float, higher_is_bad: bool, hysteresis: float) -> bool:
    """Whether a value counts as violating for an open alert: it must clear the limit by the
    hysteresis band before the alert may start to resolve, so a value hovering on a limit
    does not flap."""
    if higher_is_bad:
        return value > limit * (1 - hysteresis)
    return value < limit * (1 + hysteresis)
