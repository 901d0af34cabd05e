"""Device physics as pure functions: production, sun, and one step per model.

Every function takes its inputs (time, production level, random source, state) explicitly,
so a seed reproduces a run bit for bit. Rates are per hour; counters integrate rate x dt.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

MODEL_METRICS: dict[str, tuple[str, ...]] = {
    "water": ("water.intake", "water.reused", "water.reclaimed", "wastewater.discharge"),
    "energy": (
        "energy.electricity.import",
        "energy.power",
        "energy.gas",
        "energy.steam",
        "energy.coal",
    ),
    "heat": ("heat.waste.available", "heat.waste.recovered"),
    "waste": (
        "waste.solid.generated",
        "waste.solid.utilized",
        "waste.hazardous.generated",
        "waste.hazardous.disposed",
    ),
    "stack": (
        "emission.flow",
        "emission.o2",
        "emission.so2",
        "emission.nox",
        "emission.pm",
        "emission.temp",
    ),
    "outlet": ("wastewater.flow", "wastewater.cod", "wastewater.nh3n", "wastewater.ph"),
    "pv": ("energy.electricity.renewable", "energy.power"),
}
COUNTERS = frozenset(
    {
        "energy.electricity.import",
        "energy.electricity.renewable",
        "energy.gas",
        "energy.steam",
        "energy.coal",
        "water.intake",
        "water.reused",
        "water.reclaimed",
        "wastewater.discharge",
        "heat.waste.available",
        "heat.waste.recovered",
        "waste.solid.generated",
        "waste.solid.utilized",
        "waste.hazardous.generated",
        "waste.hazardous.disposed",
    }
)
O2_AIR = 21.0  # percent oxygen in air: the basis of the reference-oxygen correction


@dataclass(slots=True)
class DeviceState:
    """Cumulative counters and slowly varying hidden variables of one device."""

    counters: dict[str, float] = field(default_factory=dict)
    cloud: float = 0.0  # PV: cloudiness 0..1, a random walk


@dataclass(frozen=True, slots=True)
class Pattern:
    """An enterprise's production pattern in its park's time zone."""

    zone: ZoneInfo
    shifts: tuple[tuple[float, float, float], ...]  # (start hour, end hour, level)
    idle: float
    weekend: float
    seasonal: float
    peak_day: int


def production_level(t: datetime, pattern: Pattern) -> float:
    """Output relative to nominal at time t: shift pattern x weekday x season."""
    local = t.astimezone(pattern.zone)
    hour = local.hour + local.minute / 60
    level = pattern.idle
    for start, end, shift_level in pattern.shifts:
        inside = start <= hour < end if start <= end else (hour >= start or hour < end)
        if inside:
            level = max(level, shift_level)
    if local.weekday() >= 5:
        level *= pattern.weekend
    day = local.timetuple().tm_yday
    seasonal = 1 + pattern.seasonal * math.cos(2 * math.pi * (day - pattern.peak_day) / 365.25)
    return level * seasonal


def sun_height(t: datetime, latitude: float, longitude: float) -> float:
    """Sine of the solar elevation (0 at night): drives PV output."""
    day = t.timetuple().tm_yday
    declination = math.radians(23.44) * math.sin(2 * math.pi * (284 + day) / 365)
    solar_hours = t.hour + t.minute / 60 + t.second / 3600 + longitude / 15
    hour_angle = math.radians(15 * (solar_hours - 12))
    lat = math.radians(latitude)
    value = math.sin(lat) * math.sin(declination) + math.cos(lat) * math.cos(
        declination
    ) * math.cos(hour_angle)
    return max(value, 0.0)


def noisy(rng: random.Random, value: float, sigma: float) -> float:
    """value x (1 + N(0, sigma)), never negative."""
    return max(value * (1 + rng.gauss(0, sigma)), 0.0)


def _add(state: DeviceState, metric: str, amount: float) -> float:
    state.counters[metric] = state.counters.get(metric, 0.0) + max(amount, 0.0)
    return state.counters[metric]


@dataclass(frozen=True, slots=True)
class StepInput:
    """What every model step gets."""

    t: datetime
    dt_hours: float
    level: float  # production level
    sun: float
    params: dict[str, float]


def step_water(s: DeviceState, x: StepInput, rng: random.Random) -> dict[str, float]:
    """Intake follows production; reuse rate r = reused / (reused + intake) as configured."""
    p = x.params
    intake = noisy(rng, p.get("intake_m3_h", 50) * x.level, p.get("noise", 0.03)) * x.dt_hours
    rate = min(p.get("reuse_rate", 0.9), 0.99)
    reused = noisy(rng, intake * rate / (1 - rate), 0.01)
    return {
        "water.intake": _add(s, "water.intake", intake),
        "water.reused": _add(s, "water.reused", reused),
        "water.reclaimed": _add(s, "water.reclaimed", intake * p.get("reclaimed_share", 0.1)),
        "wastewater.discharge": _add(
            s, "wastewater.discharge", intake * p.get("discharge_share", 0.6)
        ),
    }


def step_energy(s: DeviceState, x: StepInput, rng: random.Random) -> dict[str, float]:
    """Electricity, gas, steam and coal all follow production; power matches the kWh counter."""
    p = x.params
    kw = noisy(rng, p.get("power_kw", 500) * (0.15 + 0.85 * x.level), p.get("noise", 0.03))
    return {
        "energy.power": kw,
        "energy.electricity.import": _add(s, "energy.electricity.import", kw * x.dt_hours),
        "energy.gas": _add(
            s, "energy.gas", noisy(rng, p.get("gas_m3_h", 0) * x.level, 0.03) * x.dt_hours
        ),
        "energy.steam": _add(
            s, "energy.steam", noisy(rng, p.get("steam_t_h", 0) * x.level, 0.03) * x.dt_hours
        ),
        "energy.coal": _add(
            s, "energy.coal", noisy(rng, p.get("coal_t_h", 0) * x.level, 0.03) * x.dt_hours
        ),
    }


def step_heat(s: DeviceState, x: StepInput, rng: random.Random) -> dict[str, float]:
    """Recovered waste heat is a share of the available heat, never more."""
    p = x.params
    available = noisy(rng, p.get("available_gj_h", 10) * x.level, 0.04) * x.dt_hours
    recovered = min(noisy(rng, available * p.get("recovery_rate", 0.6), 0.02), available)
    return {
        "heat.waste.available": _add(s, "heat.waste.available", available),
        "heat.waste.recovered": _add(s, "heat.waste.recovered", recovered),
    }


def step_waste(s: DeviceState, x: StepInput, rng: random.Random) -> dict[str, float]:
    """Solid waste generated with production; utilised and disposed as configured shares."""
    p = x.params
    solid = noisy(rng, p.get("solid_t_h", 1) * x.level, 0.05) * x.dt_hours
    hazardous = noisy(rng, p.get("hazardous_t_h", 0.01) * x.level, 0.05) * x.dt_hours
    return {
        "waste.solid.generated": _add(s, "waste.solid.generated", solid),
        "waste.solid.utilized": _add(
            s, "waste.solid.utilized", min(solid * p.get("utilization", 0.95), solid)
        ),
        "waste.hazardous.generated": _add(s, "waste.hazardous.generated", hazardous),
        "waste.hazardous.disposed": _add(
            s, "waste.hazardous.disposed", hazardous * p.get("disposal", 1.0)
        ),
    }


def step_stack(s: DeviceState, x: StepInput, rng: random.Random) -> dict[str, float]:
    """A CEMS: dry flue-gas flow follows fuel (load); O2 rises at low load (excess air);
    measured concentrations are the reference-O2 values diluted by that excess air."""
    p = x.params
    load = min(max(x.level, 0.3), 1.1)
    o2_ref = p.get("o2_ref", 6.0)
    o2 = min(noisy(rng, p.get("o2", o2_ref + 2) + (1 - load) * 3, 0.02), 19.5)
    dilution = (O2_AIR - o2) / (O2_AIR - o2_ref)
    return {
        "emission.flow": noisy(rng, p.get("flow_m3_h", 200_000) * (0.4 + 0.6 * load), 0.02),
        "emission.o2": o2,
        "emission.so2": noisy(rng, p.get("so2_ref", 30), p.get("noise", 0.08)) * dilution,
        "emission.nox": noisy(rng, p.get("nox_ref", 50), p.get("noise", 0.08)) * dilution,
        "emission.pm": noisy(rng, p.get("pm_ref", 5), p.get("noise", 0.1)) * dilution,
        "emission.temp": noisy(rng, p.get("temp_c", 120) + 20 * load, 0.01),
    }


def step_outlet(s: DeviceState, x: StepInput, rng: random.Random) -> dict[str, float]:
    """A wastewater outlet analyser: flow with production, COD/NH3-N around their set values."""
    p = x.params
    return {
        "wastewater.flow": noisy(rng, p.get("flow_m3_h", 300) * (0.5 + 0.5 * x.level), 0.05),
        "wastewater.cod": noisy(rng, p.get("cod_mg_l", 40), p.get("noise", 0.1)),
        "wastewater.nh3n": noisy(rng, p.get("nh3n_mg_l", 3), p.get("noise", 0.1)),
        "wastewater.ph": min(max(rng.gauss(p.get("ph", 7.2), 0.1), 0.0), 14.0),
    }


def step_pv(s: DeviceState, x: StepInput, rng: random.Random) -> dict[str, float]:
    """Rooftop PV: output follows the sun, dimmed by a slowly drifting cloud cover."""
    p = x.params
    s.cloud = min(max(s.cloud + rng.gauss(0, 0.05) * math.sqrt(x.dt_hours * 60), 0.0), 0.9)
    kw = p.get("capacity_kw", 1000) * x.sun * (1 - s.cloud) * p.get("efficiency", 0.85)
    return {
        "energy.power": kw,
        "energy.electricity.renewable": _add(s, "energy.electricity.renewable", kw * x.dt_hours),
    }


STEPS: dict[str, Callable[[DeviceState, StepInput, random.Random], dict[str, float]]] = {
    "water": step_water,
    "energy": step_energy,
    "heat": step_heat,
    "waste": step_waste,
    "stack": step_stack,
    "outlet": step_outlet,
    "pv": step_pv,
}
