"""Retention of raw readings: whole chunks on TimescaleDB, a ranged DELETE elsewhere."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text

from smartpark.db import timescaledb_installed


def apply_retention(conn: Connection, cutoff: datetime) -> str:
    """Remove readings older than `cutoff`; returns what was removed, for the operator."""
    hypertable = "SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = :t"
    if timescaledb_installed(conn) and conn.execute(text(hypertable), {"t": "reading"}).scalar():
        # Chunks entirely before the cutoff go at once; no row-by-row delete, no bloat.
        dropped = conn.execute(
            text("SELECT drop_chunks('reading', older_than => :cutoff)"), {"cutoff": cutoff}
        ).all()
        return f"dropped {len(dropped)} chunk(s) of readings before {cutoff.isoformat()}"
    deleted = conn.execute(text("DELETE FROM reading WHERE time < :cutoff"), {"cutoff": cutoff})
    return f"deleted {deleted.rowcount} reading(s) before {cutoff.isoformat()}"
