"""Emission concentrations (hourly, daily) per outlet and emission amounts against permits."""

from __future__ import annotations

from collections import defaultdict
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


def _hours(conn: Connection, config: ChecksConfig, outlet: Outlet, window: Window) -> Hours:
    metrics = [*outlet.limits, outlet.flow_metric] + ([O2] if outlet.kind == "stack" else [])
    rows = outlet_hours(
        conn, config.park, enterprise=outlet.enterprise, outlet=outlet.outlet,
        metrics=metrics, start=window.start, end=window.end,
    )  # fmt: skip
    hours: Hours = defaultdict(dict)
    for bucket, metric, n_normal, sum_normal, n_manual, sum_manual in rows:
        hours[bucket][metric] = HourAgg(n_normal, sum_normal, n_manual, sum_manual)
    return hours


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
    for outlet in config.outlets:
        hours = _hours(conn, config, outlet, hour)
        day_hours = _hours(conn, config, outlet, day)
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
    for permit in config.permits:
        outlet = next(
            (
                o
                for o in config.outlets
                if (o.enterprise, o.outlet) == (permit.enterprise, permit.outlet)
            ),
            None,
        )
        if outlet is not None:
            results.append(
                _permit(
                    conn,
                    config,
                    outlet=outlet,
                    permit=permit,
                    zone=zone,
                    now=now,
                    catalogue=catalogue,
                )
            )
    return results


def _permit(
    conn: Connection, config: ChecksConfig, *, outlet: Outlet, permit: Permit, zone: ZoneInfo,
    now: datetime, catalogue: dict[str, Metric],
) -> Result:  # fmt: skip
    window = period(permit.period, now, zone)
    so_far = Window(window.name, window.start, min(window.end, floor_hour(now)))
    hours = _hours(conn, config, outlet, so_far) if so_far.hours > 0 else {}
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
