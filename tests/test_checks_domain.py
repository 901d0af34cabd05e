"""The checks' arithmetic with hand-computed numbers, including the edges."""

from __future__ import annotations

import pytest

from smartpark.checks.config import Validity
from smartpark.checks.domain import (
    HourAgg,
    Status,
    daily_concentration,
    hourly_concentration,
    hourly_mass_kg,
    o2_corrected,
    permit_pace,
    ratio,
    still_violating,
)

RULES = Validity(
    source="HJ 75-2017",
    min_valid_minutes_per_hour=45,
    min_valid_hours_per_day=20,
    valid_flags=["N"],
    air_oxygen_percent=21,
)
WITH_MANUAL = RULES.model_copy(update={"valid_flags": ["N", "S"]})


def test_o2_correction() -> None:
    # 30 mg/m3 measured at 9% O2, reference 6%: 30 x (21 - 6) / (21 - 9) = 30 x 15 / 12 = 37.5
    assert o2_corrected(30, 9, 6, 21) == 37.5
    with pytest.raises(ValueError, match="not below air"):
        o2_corrected(30, 21, 6, 21)


def test_44_valid_minutes_is_not_a_valid_hour_45_is() -> None:
    o2 = HourAgg(60, 60 * 9.0)
    invalid = hourly_concentration(HourAgg(44, 44 * 100.0), o2, 6, 35, RULES)
    assert invalid.status is Status.INVALID and invalid.note == "44 valid minutes, 45 needed"
    valid = hourly_concentration(HourAgg(45, 45 * 28.0), o2, 6, 35, RULES)
    # 28 x 15 / 12 = 35.0: exactly at the limit is compliant
    assert (valid.status, valid.value) == (Status.OK, 35.0)
    above = hourly_concentration(HourAgg(45, 45 * 28.4), o2, 6, 35, RULES)
    assert above.status is Status.VIOLATION and above.value == pytest.approx(35.5)


def test_manual_samples_count_only_when_configured() -> None:
    conc = HourAgg(40, 40 * 20.0, n_manual=5, sum_manual=5 * 29.0)
    assert hourly_concentration(conc, None, None, 100, RULES).status is Status.INVALID
    with_s = hourly_concentration(conc, None, None, 100, WITH_MANUAL)
    # (800 + 145) / 45 = 21.0
    assert (with_s.status, with_s.value) == (Status.OK, 21.0)


def test_invalid_o2_invalidates_the_hour() -> None:
    out = hourly_concentration(HourAgg(60, 600.0), HourAgg(30, 270.0), 6, 35, RULES)
    assert out.status is Status.INVALID and out.note == "O2 has 30 valid minutes, 45 needed"


def test_daily_mean_needs_20_valid_hours() -> None:
    nineteen = [30.0] * 19 + [None] * 5
    assert daily_concentration(nineteen, 35, RULES).status is Status.INVALID
    twenty = [30.0] * 10 + [40.0] * 10 + [None] * 4  # mean 35.0: at the limit
    assert (
        daily_concentration(twenty, 35, RULES).status,
        daily_concentration(twenty, 35, RULES).value,
    ) == (Status.OK, 35.0)
    assert daily_concentration([36.0] * 20, 35, RULES).status is Status.VIOLATION


def test_ratio_target_and_coverage() -> None:
    # reuse 930 / (930 + 70) = 0.93 against 0.90
    assert ratio(930, 1000, 1.0, 0.90, 0.9).status is Status.OK
    low = ratio(850, 1000, 1.0, 0.90, 0.9)
    assert (low.status, low.value) == (Status.VIOLATION, 0.85)
    assert ratio(900, 1000, 1.0, 0.90, 0.9).status is Status.OK  # exactly at target
    half = ratio(930, 1000, 0.5, 0.90, 0.9)
    assert (half.status, half.value, half.note) == (
        Status.INSUFFICIENT,
        None,
        "data for 50% of the window, 90% needed",
    )


def test_mass_from_concentration_and_flow() -> None:
    # 30 mg/m3 x 200,000 m3/h x 1 h = 6,000,000 mg = 6 kg; 50 mg/L x 100 m3/h x 1 h = 5 kg
    assert hourly_mass_kg(30, "mg/m3", 200_000, "m3/h") == pytest.approx(6.0)
    assert hourly_mass_kg(50, "mg/L", 100, "m3/h") == pytest.approx(5.0)


def test_permit_pace_warns_before_the_breach() -> None:
    # 9 t in the first third of the period (240 of 720 hours) projects 27 t against 25 t
    warn = permit_pace(9, 25, 240 / 720, 1.0, 1.0)
    assert warn.status is Status.WARNING and warn.note == "on pace for 27.0 t of 25.0 t"
    assert permit_pace(8, 25, 240 / 720, 1.0, 1.0).status is Status.OK  # 24 t projected
    assert permit_pace(9, 25, 240 / 720, 1.1, 1.0).status is Status.OK  # warn only above 27.5 t
    assert permit_pace(25.1, 25, 240 / 720, 1.0, 1.0).status is Status.VIOLATION


def test_hysteresis() -> None:
    # limit 35, 5% band: an open alert stays open down to 33.25
    assert still_violating(34.0, 35, True, 0.05)
    assert not still_violating(33.0, 35, True, 0.05)
    # target 0.90 (lower is bad): must climb above 0.945 to clear
    assert still_violating(0.93, 0.90, False, 0.05)
    assert not still_violating(0.95, 0.90, False, 0.05)
