"""CO2 from energy counters through versioned emission factors, per enterprise and park."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection

from smartpark.checks.config import ChecksConfig, FactorSet
from smartpark.checks.domain import Outcome, Status, permit_pace
from smartpark.checks.results import Result
from smartpark.checks.windows import month_to_date, period
from smartpark.storage.checks import consumption


def factor_set(config: ChecksConfig, at: datetime) -> FactorSet | None:
    """The newest factor set valid at `at` (history re-runs with the factors of its time)."""
    valid = [f for f in config.factors if f.valid_from <= at.date()]
    return max(valid, key=lambda f: f.valid_from) if valid else None


def evaluate(conn: Connection, config: ChecksConfig, zone: ZoneInfo, now: datetime) -> list[Result]:
    """Month-to-date CO2 in tonnes; against the enterprise's monthly budget when one is set."""
    window = month_to_date(now, zone)
    factors = factor_set(config, window.start)
    if factors is None or window.hours <= 0:
        return []
    rows = consumption(conn, config.park, sorted(factors.co2), window.start, window.end)
    per_enterprise: dict[str, float] = {}
    detail: dict[str, dict[str, float]] = {}
    for code, metric, amount, _hours in rows:
        tonnes = amount * factors.co2[metric].kg_co2_per_unit / 1000
        per_enterprise[code] = per_enterprise.get(code, 0.0) + tonnes
        detail.setdefault(code, {})[metric] = tonnes
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
            elapsed = (now - month.start) / (month.end - month.start)
            outcome = permit_pace(tonnes, budget, elapsed, config.carbon_warn_at_pace, 1.0)
        inputs = {"factor_version": factors.version, "factor_source": factors.source,
                  "by_carrier_t": detail.get(subject, {}) if enterprise else {}}  # fmt: skip
        severity = "critical" if outcome.status is Status.VIOLATION else "warning"
        results.append(
            Result("carbon.month", subject, enterprise, window, outcome, severity, True, inputs)
        )
    return results
