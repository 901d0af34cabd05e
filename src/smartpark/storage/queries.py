"""Read queries behind the REST API, always filtered to the caller's park and enterprise."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text


def _rows(conn: Connection, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(text(sql), params)]


def enterprises(conn: Connection, park: str, scope: str | None) -> list[dict[str, Any]]:
    """A park's enterprises (one, for an enterprise user)."""
    return _rows(
        conn,
        "SELECT code AS id, name, industry FROM enterprise WHERE park_id = :park "
        "AND (CAST(:scope AS text) IS NULL OR code = :scope) ORDER BY code",
        {"park": park, "scope": scope},
    )


def devices(conn: Connection, park: str, scope: str | None) -> list[dict[str, Any]]:
    """Devices with status, last seen, their metrics and data-quality event counts."""
    return _rows(
        conn,
        """
        SELECT d.code AS id, e.code AS enterprise, d.name, d.kind, d.outlet, d.status,
               d.status_at, d.last_seen_at, d.last_seq,
               d.dead_letters_dropped, d.dead_letters_dropped_at,
               (SELECT count(*) FROM dead_letter l WHERE l.device_id = d.id) AS dead_letters,
               array(SELECT m.name FROM device_metric dm JOIN metric m ON m.id = dm.metric_id
                     WHERE dm.device_id = d.id ORDER BY m.name) AS metrics,
               (SELECT coalesce(jsonb_object_agg(q.kind, q.n), '{}'::jsonb) FROM
                  (SELECT kind, count(*) AS n FROM data_quality_event
                   WHERE device_id = d.id GROUP BY kind) q) AS quality_events
        FROM device d JOIN enterprise e ON e.id = d.enterprise_id
        WHERE d.park_id = :park AND (CAST(:scope AS text) IS NULL OR e.code = :scope)
        ORDER BY d.code
        """,
        {"park": park, "scope": scope},
    )


def alerts(
    conn: Connection, park: str, scope: str | None, filters: dict[str, Any], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Alerts newest first, filtered by state, severity and enterprise; and the total count."""
    where = """
        park_id = :park AND (CAST(:scope AS text) IS NULL OR enterprise = :scope)
        AND (CAST(:state AS text) IS NULL OR state = :state)
        AND (CAST(:severity AS text) IS NULL OR severity = :severity)
        AND (CAST(:enterprise AS text) IS NULL OR enterprise = :enterprise)
    """
    params = {"park": park, "scope": scope, **filters, "limit": limit, "offset": offset}
    items = _rows(
        conn,
        f'SELECT id, enterprise, rule, subject, state, severity, message, value, "limit", '
        f"opened_at, last_violation_at, resolved_at FROM alert WHERE {where} "
        f"ORDER BY opened_at DESC, id DESC LIMIT :limit OFFSET :offset",
        params,
    )
    total = int(
        conn.execute(text(f"SELECT count(*) FROM alert WHERE {where}"), params).scalar_one()
    )
    return items, total


def alert_scope(conn: Connection, alert_id: int) -> tuple[str, str | None] | None:
    """(park, enterprise) of an alert, for authorisation."""
    row = conn.execute(
        text("SELECT park_id, enterprise FROM alert WHERE id = :id"), {"id": alert_id}
    ).first()
    return None if row is None else (row[0], row[1])


def evaluations(conn: Connection, park: str, scope: str | None) -> list[dict[str, Any]]:
    """Stored evaluations, newest first (an enterprise user sees their enterprise's only)."""
    return _rows(
        conn,
        "SELECT id, enterprise, period_label, indicator_set, set_version, factor_version, "
        "gate_passed, green_index, computed_at FROM evaluation WHERE park_id = :park "
        "AND (CAST(:scope AS text) IS NULL OR enterprise = :scope) ORDER BY id DESC",
        {"park": park, "scope": scope},
    )


_DEAD_LETTER = (
    "SELECT id, received_at, topic, park_id, device_id, reason, rejections, rejected, readings,"
    " payload_size, payload_sha256, reprocessed_at, payload FROM dead_letter"
)


def _payload_text(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # The raw payload as text; invalid UTF-8 is shown replaced, never refused.
    for item in items:
        item["payload_truncated"] = len(item["payload"]) < item["payload_size"]
        item["payload"] = bytes(item["payload"]).decode("utf-8", "replace")
    return items


def dead_letter(conn: Connection, park: str, dead_letter_id: int) -> dict[str, Any] | None:
    """One of a park's dead letters (the payload as text, like the list)."""
    items = _payload_text(
        _rows(
            conn,
            f"{_DEAD_LETTER} WHERE id = :id AND park_id = :park",
            {"id": dead_letter_id, "park": park},
        )
    )
    return items[0] if items else None


def dead_letters(
    conn: Connection, park: str, limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """A park's dead letters newest first; the raw payload as text (invalid UTF-8 replaced)."""
    items = _payload_text(
        _rows(
            conn,
            f"{_DEAD_LETTER} WHERE park_id = :park ORDER BY id DESC LIMIT :limit OFFSET :offset",
            {"park": park, "limit": limit, "offset": offset},
        )
    )
    total = int(
        conn.execute(
            text("SELECT count(*) FROM dead_letter WHERE park_id = :park"), {"park": park}
        ).scalar_one()
    )
    return items, total


def check_results(
    conn: Connection, park: str, scope: str | None, filters: dict[str, Any], limit: int, offset: int
) -> tuple[list[dict[str, Any]], int]:
    """Check results newest window first, with their inputs; filtered by check prefix,
    subject and status."""
    where = """
        (CAST(:scope AS text) IS NULL OR r.enterprise = :scope)
        AND (r.enterprise IS NULL OR EXISTS (SELECT 1 FROM enterprise e
             WHERE e.park_id = :park AND e.code = r.enterprise))
        AND (CAST(:check AS text) IS NULL OR r.check_name LIKE CAST(:check AS text) || '%')
        AND (CAST(:subject AS text) IS NULL OR r.subject = :subject)
        AND (CAST(:status AS text) IS NULL OR r.status = :status)
    """
    params = {"park": park, "scope": scope, **filters, "limit": limit, "offset": offset}
    items = _rows(
        conn,
        "SELECT r.check_name AS check, r.subject, r.enterprise, r.window_start, r.window_end, "
        'r.status, r.value, r."limit", r.coverage, r.severity, r.inputs, r.evaluated_at '
        f"FROM check_result r WHERE {where} ORDER BY r.window_end DESC, r.id DESC "
        "LIMIT :limit OFFSET :offset",
        params,
    )
    total = int(
        conn.execute(
            text(f"SELECT count(*) FROM check_result r WHERE {where}"), params
        ).scalar_one()
    )
    return items, total
