"""Queries for the checks: configuration documents, run claims, rollup inputs, results."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.dialects.postgresql import insert

from smartpark.models import CheckResult, CheckRun, ConfigDocument


def save_config(
    conn: Connection, park: str, body: dict[str, Any], by: str, source: str | None
) -> int:
    """Store a validated configuration; it is in force from now on."""
    row = conn.execute(
        insert(ConfigDocument)
        .values(park_id=park, body=body, imported_by=by, source_file=source)
        .returning(ConfigDocument.id)
    )
    return int(row.scalar_one())


def load_config(conn: Connection, park: str) -> dict[str, Any] | None:
    """The configuration in force for a park (the newest imported)."""
    row = conn.execute(
        text("SELECT body FROM config_document WHERE park_id = :p ORDER BY id DESC LIMIT 1"),
        {"p": park},
    ).first()
    return None if row is None else dict(row[0])


def parks(conn: Connection) -> list[tuple[str, str]]:
    """Every park with a configuration, and its time zone."""
    return [
        (p, tz)
        for p, tz in conn.execute(
            text(
                "SELECT p.id, p.timezone FROM park p WHERE EXISTS "
                "(SELECT 1 FROM config_document c WHERE c.park_id = p.id) ORDER BY p.id"
            )
        )
    ]


def claim_run(conn: Connection, job: str, window_end: datetime, by: str) -> bool:
    """Claim a job's window; False if another scheduler already did (or is doing) it."""
    stmt = insert(CheckRun).values(job=job, window_end=window_end, claimed_by=by)
    return conn.execute(stmt.on_conflict_do_nothing().returning(CheckRun.job)).first() is not None


def consumption(
    conn: Connection, park: str, metrics: list[str], start: datetime, end: datetime
) -> list[tuple[str, str, float, int]]:
    """Per enterprise and metric: consumed amount and hours with data in [start, end)."""
    rows = conn.execute(
        text("""
            SELECT e.code, m.name, coalesce(sum(h.consumed), 0), count(DISTINCT h.bucket)
            FROM rollup_hour h
            JOIN device d ON d.id = h.device_id
            JOIN enterprise e ON e.id = d.enterprise_id
            JOIN metric m ON m.id = h.metric_id
            WHERE d.park_id = :park AND m.name = ANY(:metrics)
              AND h.bucket >= :start AND h.bucket < :end
            GROUP BY e.code, m.name
        """),
        {"park": park, "metrics": metrics, "start": start, "end": end},
    )
    return [(e, m, float(c), int(n)) for e, m, c, n in rows]


def outlet_hours(
    conn: Connection, park: str, *, metrics: list[str], start: datetime, end: datetime
) -> list[tuple[str, str, datetime, str, int, float, int, float]]:
    """Hourly rollups of every outlet's devices in one query: enterprise, outlet, bucket,
    metric, n/sum normal, n/sum manual."""
    rows = conn.execute(
        text("""
            SELECT e.code, d.outlet, h.bucket, m.name, sum(h.n_normal),
                   coalesce(sum(h.sum_normal), 0), sum(h.n_manual), coalesce(sum(h.sum_manual), 0)
            FROM rollup_hour h
            JOIN device d ON d.id = h.device_id
            JOIN enterprise e ON e.id = d.enterprise_id
            JOIN metric m ON m.id = h.metric_id
            WHERE d.park_id = :park AND d.outlet IS NOT NULL
              AND m.name = ANY(:metrics) AND h.bucket >= :start AND h.bucket < :end
            GROUP BY e.code, d.outlet, h.bucket, m.name
            ORDER BY h.bucket
        """),
        {"park": park, "metrics": metrics, "start": start, "end": end},
    )
    # One fetchall: a month's window is tens of thousands of rows, and iterating the result
    # fetched them one by one.
    return [
        (e, o, b, m, int(nn), float(sn), int(nm), float(sm))
        for e, o, b, m, nn, sn, nm, sm in rows.all()
    ]


def save_results(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Store check results in one statement; re-evaluating a window replaces its result
    (deterministic)."""
    if not rows:
        return
    stmt = insert(CheckResult)
    keys = ("status", "value", "limit", "coverage", "severity", "inputs", "evaluated_at",
            "enterprise")  # fmt: skip
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["check_name", "subject", "window_start", "window_end"],
            set_={k: stmt.excluded[k] for k in keys},
        ),
        rows,
    )


def silent_devices(
    conn: Connection, park: str, start: datetime, end: datetime
) -> list[tuple[str, str]]:
    """Devices (code, enterprise) with no reading at all in [start, end)."""
    rows = conn.execute(
        text("""
            SELECT d.code, e.code FROM device d JOIN enterprise e ON e.id = d.enterprise_id
            WHERE d.park_id = :park AND NOT EXISTS (
                SELECT 1 FROM reading r
                WHERE r.device_id = d.id AND r.time >= :start AND r.time < :end)
            ORDER BY d.code
        """),
        {"park": park, "start": start, "end": end},
    )
    return [(d, e) for d, e in rows]


def stuck_gauges(
    conn: Connection, park: str, start: datetime, end: datetime, min_hours: int
) -> list[tuple[str, str, str, float]]:
    """Gauges whose valid values did not change at all over at least `min_hours` hours."""
    rows = conn.execute(
        text("""
            SELECT d.code, e.code, m.name, min(h.min_normal)
            FROM rollup_hour h
            JOIN device d ON d.id = h.device_id
            JOIN enterprise e ON e.id = d.enterprise_id
            JOIN metric m ON m.id = h.metric_id
            WHERE d.park_id = :park AND m.kind = 'gauge' AND h.n_normal > 1
              AND h.bucket >= :start AND h.bucket < :end
            GROUP BY d.code, e.code, m.name
            HAVING count(*) >= :min_hours AND min(h.min_normal) = max(h.max_normal)
               -- a gauge resting at zero (PV at night, an idle pump) is not a stuck sensor
               AND max(h.max_normal) <> 0
            ORDER BY d.code, m.name
        """),
        {"park": park, "start": start, "end": end, "min_hours": min_hours},
    )
    return [(d, e, m, float(v)) for d, e, m, v in rows]
