"""Read queries behind the dashboard: overview, rollup and check series, alert history."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, text

_SCOPE = "(CAST(:scope AS text) IS NULL OR {col} = :scope)"


def _rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def park(conn: Connection, park_id: str) -> dict[str, Any] | None:
    """A park's id, name and time zone."""
    row = conn.execute(
        text("SELECT id, name, timezone FROM park WHERE id = :p"), {"p": park_id}
    ).first()
    return None if row is None else dict(row._mapping)


def enterprise_status(conn: Connection, park_id: str, scope: str | None) -> list[dict[str, Any]]:
    """Per enterprise: devices by status, and open (not yet acknowledged) alerts."""
    return _rows(
        conn,
        f"""
        SELECT e.code AS id, e.name, e.industry,
          (SELECT count(*) FROM device d WHERE d.enterprise_id = e.id) AS devices,
          (SELECT count(*) FROM device d WHERE d.enterprise_id = e.id AND d.status = 'online')
            AS online,
          (SELECT count(*) FROM device d WHERE d.enterprise_id = e.id AND d.status = 'offline')
            AS offline,
          (SELECT count(*) FROM alert a WHERE a.park_id = e.park_id AND a.enterprise = e.code
             AND a.state = 'OPEN') AS open_alerts,
          (SELECT count(*) FROM alert a WHERE a.park_id = e.park_id AND a.enterprise = e.code
             AND a.state = 'OPEN' AND a.severity = 'critical') AS critical_alerts
        FROM enterprise e
        WHERE e.park_id = :park AND {_SCOPE.format(col="e.code")}
        ORDER BY e.code
        """,
        {"park": park_id, "scope": scope},
    )


def latest_results(
    conn: Connection, park_id: str, scope: str | None, pattern: str
) -> list[dict[str, Any]]:
    """The newest verdict of every check matching a LIKE pattern, per subject."""
    return _rows(
        conn,
        f"""
        SELECT DISTINCT ON (r.check_name, r.subject)
          r.check_name AS check, r.subject, r.enterprise, r.window_start, r.window_end,
          r.status, r.value, r."limit", r.coverage
        FROM check_result r
        WHERE r.check_name LIKE :pattern AND {_SCOPE.format(col="r.enterprise")}
          AND (r.enterprise IS NULL OR EXISTS (SELECT 1 FROM enterprise e
               WHERE e.park_id = :park AND e.code = r.enterprise))
        ORDER BY r.check_name, r.subject, r.window_end DESC, r.id DESC
        """,
        {"park": park_id, "scope": scope, "pattern": pattern},
    )


_ROLLUPS = {"day": ("rollup_day", "day"), "hour": ("rollup_hour", "bucket")}


def rollup_series(
    conn: Connection, park_id: str, scope: str | None, enterprise: str | None,
    metrics: list[str], period: str, start: date | datetime, end: date | datetime,
) -> list[dict[str, Any]]:  # fmt: skip
    """Totals over the enterprise's (or park's) devices per day (park calendar) or UTC hour
    in [start, end): counter consumption, and the mean/min/max of valid gauge samples."""
    table, bucket = _ROLLUPS[period]
    params = {"park": park_id, "scope": scope, "enterprise": enterprise, "metrics": metrics}
    return _rows(
        conn,
        f"""
        SELECT m.name AS metric, m.unit, m.kind, r.{bucket} AS bucket,
          sum(r.consumed) AS consumed,
          sum(r.sum_normal) / NULLIF(sum(r.n_normal), 0) AS mean,
          min(r.min_normal) AS min, max(r.max_normal) AS max,
          sum(r.samples) AS samples, count(*) AS devices
        FROM {table} r
        JOIN device d ON d.id = r.device_id JOIN enterprise e ON e.id = d.enterprise_id
        JOIN metric m ON m.id = r.metric_id
        WHERE d.park_id = :park AND {_SCOPE.format(col="e.code")}
          AND (CAST(:enterprise AS text) IS NULL OR e.code = :enterprise)
          AND m.name = ANY(:metrics) AND r.{bucket} >= :start AND r.{bucket} < :end
        GROUP BY 1, 2, 3, 4 ORDER BY 1, 4
        """,
        params | {"start": start, "end": end},
    )


def check_series(
    conn: Connection, park_id: str, scope: str | None, pattern: str, enterprise: str | None,
    start: datetime, end: datetime, cap: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Verdicts of checks matching a LIKE pattern whose window ends in [start, end), oldest
    first, for charts of a value against its limit; at most `cap` rows."""
    return _rows(
        conn,
        f"""
        SELECT r.check_name AS check, r.subject, r.window_start, r.window_end, r.status,
               r.value, r."limit", r.coverage
        FROM check_result r
        WHERE r.check_name LIKE :pattern AND {_SCOPE.format(col="r.enterprise")}
          AND (CAST(:enterprise AS text) IS NULL OR r.enterprise = :enterprise)
          AND r.enterprise IN (SELECT code FROM enterprise WHERE park_id = :park)
          AND r.window_end >= :start AND r.window_end < :end
        ORDER BY r.window_end, r.check_name, r.subject, r.id
        LIMIT :cap
        """,
        {"park": park_id, "scope": scope, "pattern": pattern, "enterprise": enterprise}
        | {"start": start, "end": end, "cap": cap},
    )


def quality_events(
    conn: Connection, park_id: str, scope: str | None, device: str, limit: int
) -> list[dict[str, Any]] | None:
    """A device's sequence gaps, repeats and restarts, newest first (None: no such device)."""
    found = conn.execute(
        text(
            f"SELECT d.id FROM device d JOIN enterprise e ON e.id = d.enterprise_id "
            f"WHERE d.park_id = :park AND d.code = :device AND {_SCOPE.format(col='e.code')}"
        ),
        {"park": park_id, "scope": scope, "device": device},
    ).scalar()
    if found is None:
        return None
    return _rows(
        conn,
        "SELECT kind, detected_at, seq_from, seq_to, filled, detail FROM data_quality_event "
        "WHERE device_id = :id ORDER BY detected_at DESC, id DESC LIMIT :limit",
        {"id": found, "limit": limit},
    )


def alert_history(conn: Connection, alert_id: int) -> list[dict[str, Any]]:
    """Every transition of an alert, oldest first."""
    return _rows(
        conn,
        "SELECT id, from_state, to_state, at, by, note FROM alert_transition "
        "WHERE alert_id = :id ORDER BY id",
        {"id": alert_id},
    )


def last_transition(conn: Connection) -> int:
    """The id of the newest alert transition (0 when none)."""
    return int(conn.execute(text("SELECT coalesce(max(id), 0) FROM alert_transition")).scalar_one())


def alert_changes(
    conn: Connection, park_id: str, scope: str | None, after: int, limit: int
) -> list[dict[str, Any]]:
    """Alert transitions after id `after` in the caller's scope, with the alert as it is now."""
    return _rows(
        conn,
        f"""
        SELECT t.id AS transition, t.from_state, t.to_state, t.at, t.by, t.note,
               a.id, a.enterprise, a.rule, a.subject, a.state, a.severity, a.message,
               a.value, a."limit", a.opened_at, a.last_violation_at, a.resolved_at
        FROM alert_transition t JOIN alert a ON a.id = t.alert_id
        WHERE t.id > :after AND a.park_id = :park AND {_SCOPE.format(col="a.enterprise")}
        ORDER BY t.id LIMIT :limit
        """,
        {"park": park_id, "scope": scope, "after": after, "limit": limit},
    )


def config_versions(conn: Connection, park_id: str) -> list[dict[str, Any]]:
    """Every stored configuration version of a park, newest first (the first is in force)."""
    return _rows(
        conn,
        "SELECT id AS version, imported_at, imported_by, source_file FROM config_document "
        "WHERE park_id = :p ORDER BY id DESC",
        {"p": park_id},
    )


def config_version(conn: Connection, park_id: str, version: int) -> dict[str, Any] | None:
    """One stored configuration version with its body."""
    row = conn.execute(
        text(
            "SELECT id AS version, imported_at, imported_by, source_file, body "
            "FROM config_document WHERE park_id = :p AND id = :v"
        ),
        {"p": park_id, "v": version},
    ).first()
    return None if row is None else dict(row._mapping)


def enterprise_exists(conn: Connection, park_id: str, code: str) -> bool:
    """Whether the park has that enterprise."""
    sql = "SELECT 1 FROM enterprise WHERE park_id = :p AND code = :c"
    return conn.execute(text(sql), {"p": park_id, "c": code}).first() is not None
