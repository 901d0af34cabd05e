"""Component heartbeats: what running ingestors and schedulers last said about themselves."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, text


def beat(conn: Connection, kind: str, instance: str, state: dict[str, Any], now: datetime) -> None:
    """Record that `instance` of `kind` is alive, with its current state."""
    conn.execute(
        text(
            "INSERT INTO component_heartbeat (kind, instance, state, beat_at) "
            "VALUES (:kind, :instance, CAST(:state AS jsonb), :now) "
            "ON CONFLICT (kind, instance) DO UPDATE SET state = EXCLUDED.state, "
            "beat_at = EXCLUDED.beat_at"
        ),
        {"kind": kind, "instance": instance, "state": orjson.dumps(state).decode(), "now": now},
    )


def forget(conn: Connection, kind: str, instance: str) -> None:
    """A component that stops cleanly removes its heartbeat."""
    conn.execute(
        text("DELETE FROM component_heartbeat WHERE kind = :kind AND instance = :instance"),
        {"kind": kind, "instance": instance},
    )


def heartbeats(conn: Connection) -> list[dict[str, Any]]:
    """Every component's last heartbeat."""
    rows = conn.execute(
        text("SELECT kind, instance, state, beat_at FROM component_heartbeat ORDER BY 1, 2")
    )
    return [dict(r._mapping) for r in rows]
