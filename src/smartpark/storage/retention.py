"""Retention: each kind of data that grows is removed once older than its policy.

Raw readings go as whole chunks on TimescaleDB and as rows elsewhere; everything else as rows.
Rollups (`rollup_hour`, `rollup_day`) are derived data and are not touched here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, text

from smartpark.db import timescaledb_installed

# Rows removed per statement, each committed on its own: a run that removes millions of rows
# never holds one long transaction (locks, WAL, a snapshot that keeps vacuum from cleaning up)
# while the ingestor and the API go on working.
CHUNK_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of growing data is kept (SMARTPARK_RETENTION_*)."""

    readings: timedelta
    dead_letters: timedelta
    reading_conflicts: timedelta
    data_quality_events: timedelta
    outbox_sent: timedelta
    expired_credentials: timedelta


@dataclass(frozen=True, slots=True)
class Removed:
    """What retention removed (in a dry run: would remove) from one resource."""

    resource: str
    count: int
    unit: str  # "row", or "chunk" for readings on TimescaleDB
    cutoff: datetime


@dataclass(frozen=True, slots=True)
class RetentionReport:
    """What one retention run removed, per resource."""

    readings: Removed
    dead_letters: Removed
    reading_conflicts: Removed
    data_quality_events: Removed
    outbox_sent: Removed
    expired_credentials: Removed

    def entries(self) -> tuple[Removed, ...]:
        """Every resource, in the order the policy lists them."""
        return (
            self.readings,
            self.dead_letters,
            self.reading_conflicts,
            self.data_quality_events,
            self.outbox_sent,
            self.expired_credentials,
        )


@dataclass(frozen=True, slots=True)
class _Rows:
    """A table with a bigint `id` and the condition (on :cutoff) for a row to be removed."""

    resource: str
    table: str
    where: str


_DEAD_LETTERS = _Rows("dead_letters", "dead_letter", "received_at < :cutoff")
_CONFLICTS = _Rows("reading_conflicts", "reading_conflict", "received_at < :cutoff")
# Repeats and restarts age from when they were seen; a gap only once it is closed (filled or
# expired): an open gap is still being filled by late uploads and is never removed.
_QUALITY = _Rows(
    "data_quality_events",
    "data_quality_event",
    "(kind <> 'seq_gap' AND detected_at < :cutoff) OR (kind = 'seq_gap' AND closed_at < :cutoff)",
)
# A notification not yet delivered is kept however old: the dispatcher still owes it.
_OUTBOX = _Rows("outbox_sent", "outbox", "sent_at < :cutoff")


def apply_all(
    conn: Connection, policy: RetentionPolicy, *, now: datetime, dry_run: bool = False
) -> RetentionReport:
    """Remove what is older than its policy at `now`, committing chunk by chunk on `conn`
    (a connection outside any `begin()` block); with `dry_run`, only count it."""
    return RetentionReport(
        readings=_remove_readings(conn, now - policy.readings, dry_run=dry_run),
        dead_letters=_remove_rows(
            conn, _DEAD_LETTERS, cutoff=now - policy.dead_letters, dry_run=dry_run
        ),
        reading_conflicts=_remove_rows(
            conn, _CONFLICTS, cutoff=now - policy.reading_conflicts, dry_run=dry_run
        ),
        data_quality_events=_remove_rows(
            conn, _QUALITY, cutoff=now - policy.data_quality_events, dry_run=dry_run
        ),
        outbox_sent=_remove_rows(conn, _OUTBOX, cutoff=now - policy.outbox_sent, dry_run=dry_run),
        expired_credentials=_remove_credentials(
            conn, now - policy.expired_credentials, dry_run=dry_run
        ),
    )


def _remove_readings(conn: Connection, cutoff: datetime, *, dry_run: bool) -> Removed:
    """Remove readings older than `cutoff`: whole chunks on TimescaleDB, rows elsewhere."""
    if _is_hypertable(conn, "reading"):
        # Chunks entirely before the cutoff go at once; no row-by-row delete, no bloat. A chunk
        # still holding a newer reading stays until a later run.
        chunks = "drop_chunks" if not dry_run else "show_chunks"
        count = conn.execute(
            text(f"SELECT count(*) FROM {chunks}('reading', older_than => :cutoff)"),
            {"cutoff": cutoff},
        ).scalar_one()
        conn.commit()
        return Removed("readings", int(count), "chunk", cutoff)
    if dry_run:
        count = _count(conn, "reading", where="time < :cutoff", cutoff=cutoff)
    else:
        # `reading` has neither an id nor an index on time alone: ctid names each slice of
        # rows to delete without needing one.
        delete = (
            "DELETE FROM reading WHERE ctid = ANY(ARRAY("
            "SELECT ctid FROM reading WHERE time < :cutoff LIMIT :limit))"
        )
        count = _delete_until_short(conn, delete, cutoff=cutoff)
    return Removed("readings", count, "row", cutoff)


def _remove_credentials(conn: Connection, cutoff: datetime, *, dry_run: bool) -> Removed:
    """Sessions and tokens whose expiry passed before `cutoff` (never those without one)."""
    where = "expires_at < :cutoff"
    if dry_run:
        count = _count(conn, "credential", where=where, cutoff=cutoff)
    else:
        delete = (
            "DELETE FROM credential WHERE secret_hash IN ("
            f"SELECT secret_hash FROM credential WHERE {where} LIMIT :limit)"
        )
        count = _delete_until_short(conn, delete, cutoff=cutoff)
    return Removed("expired_credentials", count, "row", cutoff)


def _remove_rows(conn: Connection, rows: _Rows, *, cutoff: datetime, dry_run: bool) -> Removed:
    """Delete a table's matching rows in id order, one committed chunk at a time."""
    if dry_run:
        count = _count(conn, rows.table, where=rows.where, cutoff=cutoff)
        return Removed(rows.resource, count, "row", cutoff)
    # Each chunk resumes after the last id removed, so no chunk rescans the rows (or the dead
    # tuples) the chunks before it went through.
    chunk = text(f"""
        WITH doomed AS (
            SELECT id FROM {rows.table} WHERE ({rows.where}) AND id > :after
            ORDER BY id LIMIT :limit
        ), gone AS (
            DELETE FROM {rows.table} t USING doomed WHERE t.id = doomed.id RETURNING t.id
        )
        SELECT count(*), coalesce(max(id), 0) FROM gone
    """)
    total = after = 0
    while True:
        count, last = conn.execute(
            chunk, {"cutoff": cutoff, "after": after, "limit": CHUNK_ROWS}
        ).one()
        conn.commit()
        total += int(count)
        if count < CHUNK_ROWS:
            return Removed(rows.resource, total, "row", cutoff)
        after = int(last)


def _delete_until_short(conn: Connection, delete: str, *, cutoff: datetime) -> int:
    """Run a DELETE of at most :limit rows, committing each, until one removes fewer."""
    total = 0
    while True:
        count = conn.execute(text(delete), {"cutoff": cutoff, "limit": CHUNK_ROWS}).rowcount
        conn.commit()
        total += count
        if count < CHUNK_ROWS:
            return total


def _count(conn: Connection, table: str, *, where: str, cutoff: datetime) -> int:
    return int(
        conn.execute(
            text(f"SELECT count(*) FROM {table} WHERE {where}"), {"cutoff": cutoff}
        ).scalar_one()
    )


def _is_hypertable(conn: Connection, table: str) -> bool:
    if not timescaledb_installed(conn):
        return False
    found = conn.execute(
        text("SELECT 1 FROM timescaledb_information.hypertables WHERE hypertable_name = :t"),
        {"t": table},
    ).scalar()
    return found is not None
