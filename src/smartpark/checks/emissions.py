"""Emission concentrations (hourly, daily) per outlet and emission amounts against permits."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from smartpark.catalogue import Metric
from smartpark.checks.config import ChecksConfig, Outlet, Permit
from smartpark.checks.domain import (
    HourAgg,
    Outcome,
    Status,
    daily_concentration,
    hourly_concentration,
    hourly_mass_kg,
    permit_pace,
    valid_mean,
)
from smartpark.checks.results import Result
from smartpark.checks.windows import HOUR, Window, floor_hour, last_day, last_hour, period
from smartpark.storage.checks import outlet_hours

O2 = "emission.o2"
Hours = dict[datetime, dict[str, HourAgg]]
Key = tuple[str, str]  # (enterprise, outlet)


def _outlet_hours(conn: Connection, config: ChecksConfig, window: Window) -> dict[Key, Hours]:
    """Every outlet's hourly rollups over a window, from one query."""
    metrics = {O2} | {m for o in config.outlets for m in [*o.limits, o.flow_metric]}
    rows = outlet_hours(
        conn, config.park, metrics=sorted(metrics), start=window.start, end=window.end
    )
    by_outlet: dict[Key, Hours] = defaultdict(lambda: defaultdict(dict))
    for enterprise, outlet, bucket, metric, n_normal, sum_normal, n_manual, sum_manual in rows:
        agg = HourAgg(n_normal, sum_normal, n_manual, sum_manual)
        by_outlet[(enterprise, outlet)][bucket][metric] = agg
    return by_outlet


def _hours(hours: dict[Key, Hours], outlet: Outlet) -> Hours:
    """One outlet's hours; a water outlet never takes an O2 reading into account."""
    found = hours.get((outlet.enterprise, outlet.outlet), {})
    if outlet.kind == "stack":
        return found
    return {b: {m: a for m, a in data.items() if m != O2} for b, data in found.items()}


def _hourly(
    config: ChecksConfig, outlet: Outlet, metric: str, data: dict[str, HourAgg], limit: float
) -> Outcome:
    return hourly_concentration(
        data.get(metric), data.get(O2), outlet.reference_o2, limit, config.validity
    )


def _result(
    check: str, outlet: Outlet, window: Window, outcome: Outcome, inputs: dict[str, Any]
) -> Result:
    subject = f"{outlet.enterprise}/{outlet.outlet}"
    severity = "warning" if outcome.status is Status.WARNING else "critical"
    return Result(check, subject, outlet.enterprise, window, outcome, severity, True, dict(inputs))


def concentrations(
    conn: Connection, config: ChecksConfig, zone: ZoneInfo, now: datetime
) -> list[Result]:
    """The last complete hour against hourly limits; the last local day against daily ones."""
    results = []
    hour, day = last_hour(now), last_day(now, zone)
    all_hours, all_day_hours = _outlet_hours(conn, config, hour), _outlet_hours(conn, config, day)
    for outlet in config.outlets:
        hours = _hours(all_hours, outlet)
        day_hours = _hours(all_day_hours, outlet)
        for metric, limit in outlet.limits.items():
            inputs = {"reference_o2": outlet.reference_o2, "limit_source": outlet.source}
            if limit.hourly is not None:
                out = _hourly(config, outlet, metric, hours.get(hour.start, {}), limit.hourly)
                results.append(_result(f"concentration.hourly.{metric}", outlet, hour, out, inputs))
            if limit.daily is not None:
                values = []
                for i in range(int(day.hours)):
                    data = day_hours.get(day.start + i * HOUR, {})
                    hourly = _hourly(config, outlet, metric, data, limit.daily)
                    valid = hourly.status in (Status.OK, Status.VIOLATION)
                    values.append(hourly.value if valid else None)
                out = daily_concentration(values, limit.daily, config.validity)
                inputs = {**inputs, "valid_hours": sum(v is not None for v in values)}
                results.append(_result(f"concentration.daily.{metric}", outlet, day, out, inputs))
    return results


def amounts(
    conn: Connection, config: ChecksConfig, zone: ZoneInfo, now: datetime,
    catalogue: dict[str, Metric],
) -> list[Result]:  # fmt: skip
    """Cumulative amount per permit period from valid hours, with pace warnings."""
    results = []
    cache: dict[tuple[datetime, datetime], dict[Key, Hours]] = {}

    def hours_in(window: Window) -> dict[Key, Hours]:
        # Permits of the same period share one query.
        key = (window.start, window.end)
        if key not in cache:
            cache[key] = _outlet_hours(conn, config, window)
        return cache[key]

    outlets = {(o.enterprise, o.outlet): o for o in config.outlets}
    for permit in config.permits:
        outlet = outlets.get((permit.enterprise, permit.outlet))
        if outlet is not None:
            results.append(_permit(hours_in, config, outlet, permit, zone, now, catalogue))
    return results


def _permit(
    hours_in: Callable[[Window], dict[Key, Hours]], config: ChecksConfig, outlet: Outlet,
    permit: Permit, zone: ZoneInfo, now: datetime, catalogue: dict[str, Metric],
) -> Result:  # fmt: skip
    window = period(permit.period, now, zone)
    so_far = Window(window.name, window.start, min(window.end, floor_hour(now)))
    hours = _hours(hours_in(so_far), outlet) if so_far.hours > 0 else {}
    conc_unit, flow_unit = catalogue[permit.pollutant].unit, catalogue[outlet.flow_metric].unit
    used_kg, counted = 0.0, 0
    for data in hours.values():
        if permit.pollutant not in data or outlet.flow_metric not in data:
            continue
        conc, _ = valid_mean(data[permit.pollutant], config.validity)
        flow, _ = valid_mean(data[outlet.flow_metric], config.validity)
        if conc is not None and flow is not None:
            used_kg += hourly_mass_kg(conc, conc_unit, flow, flow_unit)
            counted += 1
    coverage = counted / so_far.hours if so_far.hours > 0 else 0.0
    period_hours = window.hours
    out = permit_pace(
        used_kg / 1000, permit.amount_t, counted / period_hours, permit.warn_at_pace, coverage
    )
    inputs = {"used_kg": used_kg, "hours_counted": counted, "permit_source": permit.source,
              "evaluated_until": so_far.end.isoformat()}  # fmt: skip
    return _result(f"permit.{permit.period}.{permit.pollutant}", outlet, window, out, inputs)
