"""Alert, transition and outbox queries."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, text

_OPEN = text("""
INSERT INTO alert (park_id, enterprise, rule, subject, state, severity, message, value, "limit",
                   higher_is_bad, opened_at, last_violation_at)
VALUES (:park, :enterprise, :rule, :subject, 'OPEN', :severity, :message, :value, :limit,
        :higher_is_bad, :now, :now)
ON CONFLICT (rule, subject) WHERE state <> 'RESOLVED' DO UPDATE SET
    last_violation_at = greatest(alert.last_violation_at, EXCLUDED.last_violation_at),
    value = EXCLUDED.value, "limit" = EXCLUDED."limit", message = EXCLUDED.message,
    severity = EXCLUDED.severity, clear_since = NULL
RETURNING id, (xmax = 0) AS inserted
""")


def open_or_refresh(conn: Connection, values: dict[str, Any]) -> tuple[int, bool]:
    """Open an alert, or refresh the one already open for (rule, subject); the partial
    unique index makes two racing evaluations meet here instead of opening two."""
    row = conn.execute(_OPEN, values).one()
    return int(row.id), bool(row.inserted)


def find_open(conn: Connection, rule: str, subject: str) -> dict[str, Any] | None:
    """The not-resolved alert for (rule, subject), locked for update."""
    row = conn.execute(
        text(
            'SELECT id, state, value, "limit", higher_is_bad, clear_since, enterprise, severity, '
            "message, park_id FROM alert "
            "WHERE rule = :rule AND subject = :subject AND state <> 'RESOLVED' FOR UPDATE"
        ),
        {"rule": rule, "subject": subject},
    ).first()
    return None if row is None else dict(row._mapping)


def get(conn: Connection, alert_id: int, lock: bool = True) -> dict[str, Any] | None:
    """One alert, locked for update unless only read."""
    sql = "SELECT * FROM alert WHERE id = :id" + (" FOR UPDATE" if lock else "")
    row = conn.execute(text(sql), {"id": alert_id}).first()
    return None if row is None else dict(row._mapping)


def set_clear_since(conn: Connection, alert_id: int, since: datetime | None) -> None:
    """Record since when the condition has been clear (None: violating again)."""
    conn.execute(
        text("UPDATE alert SET clear_since = :s WHERE id = :id"), {"s": since, "id": alert_id}
    )


def set_state(conn: Connection, alert_id: int, state: str, at: datetime) -> None:
    """Move an alert to a new state."""
    conn.execute(
        text(
            "UPDATE alert SET state = CAST(:state AS varchar), "
            "resolved_at = CASE WHEN CAST(:state AS varchar) = 'RESOLVED' THEN :at "
            "ELSE resolved_at END "
            "WHERE id = :id"
        ),
        {"state": state, "at": at, "id": alert_id},
    )


def add_transition(
    conn: Connection, alert_id: int, from_state: str | None, to_state: str, at: datetime,
    by: str, note: str | None = None,
) -> None:  # fmt: skip
    """Append to the alert's history."""
    conn.execute(
        text(
            "INSERT INTO alert_transition (alert_id, from_state, to_state, at, by, note) "
            "VALUES (:a, :f, :t, :at, :by, :note)"
        ),
        {"a": alert_id, "f": from_state, "t": to_state, "at": at, "by": by, "note": note},
    )


def enqueue(conn: Connection, channel: str, target: str, payload: dict[str, Any]) -> None:
    """Add a notification to the outbox, inside the caller's transaction."""
    conn.execute(
        text("INSERT INTO outbox (channel, target, payload) VALUES (:c, :t, CAST(:p AS jsonb))"),
        {"c": channel, "t": target, "p": _json(payload)},
    )


def due(conn: Connection, now: datetime, limit: int) -> list[dict[str, Any]]:
    """Unsent notifications whose time has come, locked so two dispatchers never share one."""
    rows = conn.execute(
        text(
            "SELECT id, channel, target, payload, attempts FROM outbox "
            "WHERE sent_at IS NULL AND next_attempt_at <= :now "
            "ORDER BY id LIMIT :limit FOR UPDATE SKIP LOCKED"
        ),
        {"now": now, "limit": limit},
    )
    return [dict(r._mapping) for r in rows]


def mark_sent(conn: Connection, outbox_id: int, at: datetime) -> None:
    """The notification was delivered."""
    conn.execute(
        text("UPDATE outbox SET sent_at = :at WHERE id = :id"), {"at": at, "id": outbox_id}
    )


def mark_failed(conn: Connection, outbox_id: int, error: str, retry_at: datetime) -> None:
    """Delivery failed; try again at retry_at."""
    conn.execute(
        text(
            "UPDATE outbox SET attempts = attempts + 1, last_error = :e, next_attempt_at = :r "
            "WHERE id = :id"
        ),
        {"e": error[:2000], "r": retry_at, "id": outbox_id},
    )


def _json(payload: dict[str, Any]) -> str:
    return orjson.dumps(payload).decode()
