"""Data health: silent devices and stuck sensors, from the readings themselves."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection

from smartpark.checks.config import ChecksConfig
from smartpark.checks.domain import Outcome, Status
from smartpark.checks.results import Result
from smartpark.checks.windows import HOUR, Window, floor_hour
from smartpark.storage.checks import silent_devices, stuck_gauges


def evaluate(conn: Connection, config: ChecksConfig, now: datetime) -> list[Result]:
    """A device with no reading in the last silent_minutes, a gauge frozen for stuck_hours."""
    health = config.data_health
    if health is None:
        return []
    results = []
    silent = Window("silent", now - timedelta(minutes=health.silent_minutes), now)
    for device, enterprise in silent_devices(conn, config.park, silent.start, silent.end):
        outcome = Outcome(
            Status.VIOLATION, None, None, 0.0, f"no data for {health.silent_minutes} min"
        )
        results.append(Result("health.silent", device, enterprise, silent, outcome, "warning", True,
                              {"source": health.source}))  # fmt: skip
    end = floor_hour(now)
    stuck = Window("stuck", end - health.stuck_hours * HOUR, end)
    for device, enterprise, metric, value in stuck_gauges(
        conn, config.park, stuck.start, stuck.end, health.stuck_hours
    ):
        outcome = Outcome(
            Status.VIOLATION, value, None, 1.0, f"{metric} unchanged for {health.stuck_hours} h"
        )
        check = f"health.stuck.{metric}"
        inputs = {"source": health.source}
        results.append(Result(check, device, enterprise, stuck, outcome, "warning", True, inputs))
    return results
