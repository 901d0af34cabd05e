"""CO2 from energy counters through versioned emission factors, per enterprise and park."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from smartpark.checks.config import ChecksConfig, FactorSet
from smartpark.checks.domain import Outcome, Status, permit_pace
from smartpark.checks.results import Result
from smartpark.checks.windows import month_to_date, period
from smartpark.storage.checks import consumption


def factor_set(config: ChecksConfig, day: date) -> FactorSet | None:
    """The newest factor set valid on the park-local `day` (history re-runs with its factors)."""
    valid = [f for f in config.factors if f.valid_from <= day]
    return max(valid, key=lambda f: f.valid_from) if valid else None


def evaluate(conn: Connection, config: ChecksConfig, zone: ZoneInfo, now: datetime) -> list[Result]:
    """Month-to-date CO2 in tonnes; against the enterprise's monthly budget when one is set."""
    window = month_to_date(now, zone)
    factors = factor_set(config, window.start.astimezone(zone).date())
    if factors is None or window.hours <= 0:
        return []
    rows = consumption(conn, config.park, sorted(factors.co2), window.start, window.end)
    per_enterprise: dict[str, float] = {}
    detail: dict[str, dict[str, float]] = {}
    covered: dict[str, int] = {}
    for code, metric, amount, hours in rows:
        tonnes = amount * factors.co2[metric].kg_co2_per_unit / 1000
        per_enterprise[code] = per_enterprise.get(code, 0.0) + tonnes
        detail.setdefault(code, {})[metric] = tonnes
        covered[code] = max(covered.get(code, 0), hours)
    month = period("month", now, zone)
    results = []
    for subject, tonnes in [
        *sorted(per_enterprise.items()),
        ("park", sum(per_enterprise.values())),
    ]:
        enterprise = None if subject == "park" else subject
        budget = config.carbon_budget_t.get(subject)
        if budget is None:
            outcome = Outcome(Status.OK, tonnes, None, 1.0, "no budget set")
        else:
            # The pace of the hours with data, so a month that started without data (or a
            # gap) is not mistaken for a month of low emissions.
            hours = covered.get(subject, max(covered.values(), default=0))
            share = hours / month.hours
            outcome = permit_pace(
                tonnes, budget, share, config.carbon_warn_at_pace, hours / window.hours
            )
        inputs = {"factor_version": factors.version, "factor_source": factors.source,
                  "by_carrier_t": detail.get(subject, {}) if enterprise else {}}  # fmt: skip
        severity = "critical" if outcome.status is Status.VIOLATION else "warning"
        results.append(
            Result("carbon.month", subject, enterprise, window, outcome, severity, True, inputs)
        )
    return results
