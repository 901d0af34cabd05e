"""Queries for the green evaluation: period consumption, inputs, violations, evaluations."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, text

_INPUT = text("""
INSERT INTO periodic_input (park_id, enterprise, period_start, period_end, key, value, unit,
                            entered_by, entered_at)
VALUES (:park, :enterprise, :start, :end, :key, :value, :unit, :by, now())
ON CONFLICT (park_id, coalesce(enterprise, ''), period_start, period_end, key) DO UPDATE SET
    value = EXCLUDED.value, unit = EXCLUDED.unit, entered_by = EXCLUDED.entered_by,
    entered_at = now()
""")


def save_input(conn: Connection, values: dict[str, Any]) -> None:
    """Store (or correct) one periodic input, keeping who entered it."""
    conn.execute(_INPUT, values)


def inputs_for(
    conn: Connection, park: str, enterprise: str | None, start: date, end: date
) -> dict[str, float]:
    """The inputs entered for exactly this subject and period."""
    rows = conn.execute(
        text(
            "SELECT key, value FROM periodic_input WHERE park_id = :park "
            "AND enterprise IS NOT DISTINCT FROM :enterprise "
            "AND period_start = :start AND period_end = :end"
        ),
        {"park": park, "enterprise": enterprise, "start": start, "end": end},
    )
    return {k: float(v) for k, v in rows}


def period_consumption(
    conn: Connection, park: str, enterprise: str | None, start: date, end: date
) -> tuple[dict[str, float], dict[str, float]]:
    """Per metric: consumption of counters over [start, end) and the share of days with data."""
    rows = conn.execute(
        text("""
            SELECT m.name, sum(r.consumed), count(DISTINCT r.day)
            FROM rollup_day r
            JOIN device d ON d.id = r.device_id
            JOIN enterprise e ON e.id = d.enterprise_id
            JOIN metric m ON m.id = r.metric_id
            WHERE d.park_id = :park AND (CAST(:enterprise AS text) IS NULL OR e.code = :enterprise)
              AND m.kind = 'counter' AND r.day >= :start AND r.day < :end
            GROUP BY m.name
        """),
        {"park": park, "enterprise": enterprise, "start": start, "end": end},
    )
    days = (end - start).days
    metrics, coverage = {}, {}
    for name, consumed, with_data in rows:
        metrics[name] = float(consumed or 0.0)
        coverage[name] = with_data / days
    return metrics, coverage


def violations(
    conn: Connection, park: str, enterprise: str | None, start: datetime, end: datetime
) -> dict[str, int]:
    """Violation counts per check in windows inside [start, end)."""
    rows = conn.execute(
        text("""
            SELECT r.check_name, count(*) FROM check_result r
            WHERE r.status = 'violation' AND r.window_start >= :start AND r.window_end <= :end
              AND (CAST(:enterprise AS text) IS NULL OR r.enterprise = :enterprise)
              AND EXISTS (SELECT 1 FROM enterprise e
                          WHERE e.park_id = :park AND e.code = r.enterprise)
            GROUP BY r.check_name
        """),
        {"park": park, "enterprise": enterprise, "start": start, "end": end},
    )
    return {name: int(n) for name, n in rows}


def save_evaluation(conn: Connection, values: dict[str, Any]) -> int:
    """Store an evaluation (never updated afterwards)."""
    row = conn.execute(
        text("""
            INSERT INTO evaluation (park_id, enterprise, period_label, period_start, period_end,
                indicator_set, set_version, factor_version, gate_passed, green_index, result,
                computed_at)
            VALUES (:park, :enterprise, :label, :start, :end, :set, :version, :factors, :gate,
                    :index, CAST(:result AS jsonb), :at)
            RETURNING id
        """),
        values,
    )
    return int(row.scalar_one())


def get_evaluation(conn: Connection, evaluation_id: int) -> dict[str, Any] | None:
    """One stored evaluation."""
    row = conn.execute(
        text("SELECT * FROM evaluation WHERE id = :id"), {"id": evaluation_id}
    ).first()
    return None if row is None else dict(row._mapping)


def latest_evaluation(
    conn: Connection, park: str, enterprise: str | None, label: str, indicator_set: str
) -> dict[str, Any] | None:
    """The newest evaluation of a subject and period with a given set."""
    row = conn.execute(
        text(
            "SELECT * FROM evaluation WHERE park_id = :park AND enterprise IS NOT DISTINCT FROM :e "
            "AND period_label = :label AND indicator_set = :set ORDER BY id DESC LIMIT 1"
        ),
        {"park": park, "e": enterprise, "label": label, "set": indicator_set},
    ).first()
    return None if row is None else dict(row._mapping)


def list_inputs(conn: Connection, park: str, scope: str | None) -> list[dict[str, Any]]:
    """Entered inputs with who entered them (an enterprise user sees their enterprise's)."""
    rows = conn.execute(
        text(
            "SELECT enterprise, period_start, period_end, key, value, unit, entered_by, entered_at "
            "FROM periodic_input WHERE park_id = :park "
            "AND (CAST(:scope AS text) IS NULL OR enterprise = :scope) "
            "ORDER BY period_start DESC, enterprise NULLS FIRST, key"
        ),
        {"park": park, "scope": scope},
    )
    return [dict(r._mapping) for r in rows]
