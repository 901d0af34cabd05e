"""Recycling ratios per enterprise and for the park, over day and month windows."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from smartpark.checks.config import ChecksConfig
from smartpark.checks.domain import ratio
from smartpark.checks.results import Result
from smartpark.checks.windows import Window, last_day, month_to_date
from smartpark.storage.checks import consumption


def evaluate(conn: Connection, config: ChecksConfig, zone: ZoneInfo, now: datetime) -> list[Result]:
    """Every configured ratio for every instrumented enterprise and the whole park."""
    results = []
    for name, spec in config.ratios.items():
        metrics = sorted(set(spec.numerator) | set(spec.denominator))
        for window in (
            last_day(now, zone) if w == "day" else month_to_date(now, zone) for w in spec.windows
        ):
            if window.hours <= 0:
                continue
            rows = consumption(conn, config.park, metrics, window.start, window.end)
            by_enterprise: dict[str, dict[str, tuple[float, int]]] = {}
            for enterprise, metric, amount, hours in rows:
                by_enterprise.setdefault(enterprise, {})[metric] = (amount, hours)
            park_totals: dict[str, tuple[float, int]] = {}
            for enterprise, data in sorted(by_enterprise.items()):
                if not any(m in data for m in spec.numerator):
                    continue  # not instrumented for this ratio
                results.append(_result(name, config, enterprise, window, data))
                for metric, (amount, hours) in data.items():
                    total, seen = park_totals.get(metric, (0.0, window_hours(window)))
                    park_totals[metric] = (total + amount, min(seen, hours))
            if park_totals:
                results.append(_result(name, config, None, window, park_totals))
    return results


def window_hours(window: Window) -> int:
    """Whole hours in a window."""
    return int(window.hours)


def _result(
    name: str, config: ChecksConfig, enterprise: str | None, window: Window,
    data: dict[str, tuple[float, int]],
) -> Result:  # fmt: skip
    spec = config.ratios[name]
    numerator = sum(data.get(m, (0.0, 0))[0] for m in spec.numerator)
    denominator = sum(data.get(m, (0.0, 0))[0] for m in spec.denominator)
    hours = min(data.get(m, (0.0, 0))[1] for m in set(spec.numerator) | set(spec.denominator))
    coverage = hours / window.hours
    target = config.target(name, enterprise)
    outcome = ratio(numerator, denominator, coverage, target, spec.min_coverage)
    return Result(
        check=f"ratio.{name}.{window.name}",
        subject=enterprise or "park",
        enterprise=enterprise,
        window=window,
        outcome=outcome,
        severity=spec.severity,
        higher_is_bad=False,
        inputs={
            "numerator": numerator,
            "denominator": denominator,
            "hours_with_data": hours,
            "window_hours": window.hours,
            "target_source": spec.source,
            "metrics": {m: {"amount": a, "hours": h} for m, (a, h) in sorted(data.items())},
        },
    )
