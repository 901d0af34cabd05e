"""The ingestion write path: one transaction per batch, COPY in, duplicates made no-ops."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import psycopg

from smartpark.ingestion.sequence import Gap, Observation, Outcome, SeqState, track
from smartpark.ingestion.types import Reading

_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS incoming_reading (
    device_id integer, metric_id smallint, time timestamptz, value double precision, flag text
) ON COMMIT DELETE ROWS
"""
_INSERT = """
INSERT INTO reading (device_id, metric_id, time, value, flag)
SELECT device_id, metric_id, time, value, flag FROM incoming_reading
ON CONFLICT (device_id, metric_id, time) DO NOTHING
"""
# Hours whose rollups must be recomputed; a counter's next hour too, since its first delta
# starts from the last reading of this one. Buckets are UTC hours (date_bin, not date_trunc,
# which would follow the session's time zone).
_MARK_DIRTY = """
INSERT INTO rollup_dirty (device_id, metric_id, bucket)
SELECT DISTINCT i.device_id, i.metric_id, b.bucket
FROM incoming_reading i
JOIN metric m ON m.id = i.metric_id
CROSS JOIN LATERAL (VALUES
    (date_bin('1 hour', i.time, timestamptz '2000-01-01 00:00+00')),
    (CASE WHEN m.kind = 'counter'
          THEN date_bin('1 hour', i.time, timestamptz '2000-01-01 00:00+00') + interval '1 hour'
     END)
) AS b(bucket)
WHERE b.bucket IS NOT NULL
ON CONFLICT DO NOTHING
"""
# Runs after _INSERT in the same transaction: rows just inserted match themselves and are
# filtered out by IS DISTINCT FROM, so only pre-existing, different values remain.
_CONFLICTS = """
INSERT INTO reading_conflict
    (device_id, metric_id, time, stored_value, stored_flag, received_value, received_flag)
SELECT r.device_id, r.metric_id, r.time, r.value, r.flag, i.value, i.flag
FROM incoming_reading i
JOIN reading r USING (device_id, metric_id, time)
WHERE (r.value, r.flag) IS DISTINCT FROM (i.value, i.flag)
"""


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetterRow:
    """A dead letter waiting to be stored: one per rejected message (models.DeadLetter)."""

    received_at: datetime
    topic: str
    park_id: str | None
    device_id: int | None
    reason: str
    payload: bytes
    payload_size: int
    payload_sha256: str
    rejections: str  # JSON text
    rejected: int
    readings: int


@dataclass(slots=True)
class Batch:
    """Everything one commit stores, gathered from many messages."""

    readings: list[Reading] = field(default_factory=list)
    dead_letters: list[DeadLetterRow] = field(default_factory=list)
    observations: list[Observation] = field(default_factory=list)
    statuses: list[tuple[int, str, datetime]] = field(default_factory=list)
    last_seen: dict[int, datetime] = field(default_factory=dict)
    # Dead letters over a device's budget: only counted, per device id.
    dropped: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """What a committed batch did."""

    inserted: int
    duplicates: int
    conflicts: int
    dead_letters: int
    sequence_events: int

    def __add__(self, other: BatchResult) -> BatchResult:
        return BatchResult(
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.conflicts + other.conflicts,
            self.dead_letters + other.dead_letters,
            self.sequence_events + other.sequence_events,
        )


def store_batch(
    conn: psycopg.Connection[Any],
    batch: Batch,
    now: datetime,
    *,
    max_open_gaps: int | None = None,
) -> BatchResult:
    """Store a batch and commit; on any error the transaction is rolled back and re-raised.

    `max_open_gaps` (MAX_OPEN_GAPS_PER_DEVICE) is required when the batch has observations."""
    try:
        result = _store(conn, batch, now, max_open_gaps=max_open_gaps)
    except BaseException:
        conn.rollback()
        raise
    conn.commit()
    return result


def _store(
    conn: psycopg.Connection[Any], batch: Batch, now: datetime, *, max_open_gaps: int | None
) -> BatchResult:
    unique, in_batch_conflicts = _dedupe(batch.readings)
    inserted = conflicts = 0
    with conn.cursor() as cur:
        if unique:
            cur.execute(_STAGING)
            with cur.copy(
                "COPY incoming_reading (device_id, metric_id, time, value, flag) FROM STDIN"
            ) as copy:
                copy.write(_copy_text(unique))
            cur.execute(_INSERT)
            inserted = cur.rowcount
            cur.execute(_MARK_DIRTY)
            if inserted < len(unique):
                cur.execute(_CONFLICTS)
                conflicts = cur.rowcount
        if in_batch_conflicts:
            cur.executemany(
                "INSERT INTO reading_conflict (device_id, metric_id, time, stored_value, "
                "stored_flag, received_value, received_flag) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [
                    (a.device_id, a.metric_id, a.time, a.value, a.flag, b.value, b.flag)
                    for a, b in in_batch_conflicts
                ],
            )
            conflicts += len(in_batch_conflicts)
        if batch.dead_letters:
            _copy_dead_letters(cur, batch.dead_letters)
        if batch.dropped:
            ids, counts = zip(*sorted(batch.dropped.items()), strict=True)
            cur.execute(
                "UPDATE device d SET dead_letters_dropped = d.dead_letters_dropped + s.n, "
                "dead_letters_dropped_at = %s "
                "FROM unnest(%s::int[], %s::int[]) AS s(id, n) WHERE d.id = s.id",
                (now, _array(ids), _array(counts)),
            )
        # Device rows last, locked in id order: the lock is held only until the commit
        # that follows, so ingestors sharing a subscription barely wait for each other.
        events = _update_devices(cur, batch, now, max_open_gaps=max_open_gaps)
    # Every reading not inserted is either a conflict (different value) or a duplicate.
    duplicates = len(batch.readings) - inserted - conflicts
    return BatchResult(inserted, duplicates, conflicts, len(batch.dead_letters), events)


def _copy_dead_letters(cur: psycopg.Cursor[Any], letters: list[DeadLetterRow]) -> None:
    with cur.copy(
        "COPY dead_letter (received_at, topic, park_id, device_id, reason, payload, payload_size,"
        " payload_sha256, rejections, rejected, readings) FROM STDIN"
    ) as copy:
        for d in letters:
            copy.write_row(
                (
                    d.received_at,
                    d.topic,
                    d.park_id,
                    d.device_id,
                    d.reason,
                    d.payload,
                    d.payload_size,
                    d.payload_sha256,
                    d.rejections,
                    d.rejected,
                    d.readings,
                )
            )


def _copy_text(readings: list[Reading]) -> str:
    """COPY's text format, written directly: psycopg's per-value dumpers were a tenth of the
    ingestor's time. Ids, an aware timestamp, a finite float and a flag letter never hold a
    tab, a newline or a backslash, so nothing needs escaping; a message's readings share
    their timestamp, so each is formatted once."""
    stamps: dict[datetime, str] = {}
    lines = []
    for r in readings:
        stamp = stamps.get(r.time)
        if stamp is None:
            stamp = stamps[r.time] = r.time.isoformat()
        lines.append(f"{r.device_id}\t{r.metric_id}\t{stamp}\t{r.value!r}\t{r.flag}\n")
    return "".join(lines)


def _array(values: Iterable[int | datetime | None]) -> str:
    """A PostgreSQL array literal of integers or aware timestamps, for `%s::int[]` and the
    like: a batch's per-device arrays hold thousands of values, and psycopg's list dumper
    handled them one by one in Python. Neither kind needs quoting inside the literal."""
    return (
        "{"
        + ",".join(
            "NULL" if v is None else v.isoformat() if isinstance(v, datetime) else str(v)
            for v in values
        )
        + "}"
    )


def _dedupe(readings: list[Reading]) -> tuple[list[Reading], list[tuple[Reading, Reading]]]:
    """First reading per key; later different values of the same key are conflicts."""
    first: dict[tuple[int, int, datetime], Reading] = {}
    conflicts = []
    for r in readings:
        key = (r.device_id, r.metric_id, r.time)
        seen = first.get(key)
        if seen is None:
            first[key] = r
        elif (seen.value, seen.flag) != (r.value, r.flag):
            conflicts.append((seen, r))
    return list(first.values()), conflicts


def _update_devices(
    cur: psycopg.Cursor[Any], batch: Batch, now: datetime, *, max_open_gaps: int | None
) -> int:
    devices = sorted(set(batch.last_seen) | {s[0] for s in batch.statuses})
    if not devices:
        return 0
    rows = cur.execute(
        "SELECT id, last_seq, last_seq_time, first_seq FROM device WHERE id = ANY(%s::int[]) "
        "ORDER BY id FOR UPDATE",
        (_array(devices),),
    ).fetchall()
    events = 0
    if batch.observations:
        if max_open_gaps is None:
            raise ValueError("a batch with sequence numbers needs max_open_gaps")
        open_gaps = _open_gaps(
            cur, sorted({o.device_id for o in batch.observations}), cap=max_open_gaps, now=now
        )
        outcome = track(
            {device_id: SeqState(last, at, first) for device_id, last, at, first in rows},
            open_gaps,
            batch.observations,
            max_open_gaps=max_open_gaps,
        )
        events = _write_sequence(cur, outcome, now)
    if batch.last_seen:
        seen_ids, seen_at = zip(*sorted(batch.last_seen.items()), strict=True)
        cur.execute(
            "UPDATE device d SET last_seen_at = GREATEST(d.last_seen_at, s.at) "
            "FROM unnest(%s::int[], %s::timestamptz[]) AS s(id, at) WHERE d.id = s.id",
            (_array(seen_ids), _array(seen_at)),
        )
    for device_id, status, at in batch.statuses:
        # Only transitions are events: a retained status seen again on reconnect is not one.
        changed = cur.execute(
            "UPDATE device SET status = %s, status_at = %s "
            "WHERE id = %s AND status IS DISTINCT FROM %s RETURNING id",
            (status, at, device_id, status),
        ).fetchone()
        if changed:
            cur.execute(
                "INSERT INTO device_status_event (device_id, status, received_at) "
                "VALUES (%s, %s, %s)",
                (device_id, status, at),
            )
    return events


# The newest cap + 1 open gaps per device, through the partial index on open gaps: a device
# that had more (a lowered cap, or rows from before there was one) shows one beyond the cap.
_OPEN_GAPS = """
SELECT id, device_id, seq_from, seq_to, filled FROM (
    SELECT id, device_id, seq_from, seq_to, filled,
           row_number() OVER (PARTITION BY device_id ORDER BY id DESC) AS newest
    FROM data_quality_event
    WHERE kind = 'seq_gap' AND closed_at IS NULL AND device_id = ANY(%s::int[])
) g
WHERE newest <= %s
ORDER BY id
"""
_EXPIRE_UP_TO = """
UPDATE data_quality_event e SET closed_at = %s, closed_reason = 'expired'
FROM unnest(%s::int[], %s::bigint[]) AS x(device_id, last_id)
WHERE e.device_id = x.device_id AND e.kind = 'seq_gap' AND e.closed_at IS NULL
  AND e.id <= x.last_id
"""


def _open_gaps(
    cur: psycopg.Cursor[Any], devices: list[int], *, cap: int, now: datetime
) -> dict[int, list[Gap]]:
    """Open gaps per device, oldest first, at most `cap`; older ones beyond the cap are
    closed as expired here, so what stays open in the table is what `track` sees."""
    gaps: dict[int, list[Gap]] = {}
    for gid, device_id, seq_from, seq_to, filled in cur.execute(
        _OPEN_GAPS, (_array(devices), cap + 1)
    ).fetchall():
        gaps.setdefault(device_id, []).append(Gap(device_id, seq_from, seq_to, filled, gid))
    excess = {d: items.pop(0).id for d, items in gaps.items() if len(items) > cap}
    if excess:
        cur.execute(_EXPIRE_UP_TO, (now, _array(excess), _array(excess.values())))
    return gaps


def _write_sequence(cur: psycopg.Cursor[Any], outcome: Outcome, now: datetime) -> int:
    if outcome.states:
        ids = list(outcome.states)
        states = list(outcome.states.values())
        cur.execute(
            "UPDATE device d SET last_seq = s.last, last_seq_time = s.at, first_seq = s.first "
            "FROM unnest(%s::int[], %s::bigint[], %s::timestamptz[], %s::bigint[]) "
            "AS s(id, last, at, first) WHERE d.id = s.id",
            (
                _array(ids),
                _array(s.last for s in states),
                _array(s.last_time for s in states),
                _array(s.first for s in states),
            ),
        )
    new_rows = [
        (
            g.device_id,
            "seq_gap",
            now,
            g.seq_from,
            g.seq_to,
            g.filled,
            orjson.dumps({"missing": g.size}).decode(),
            None if g.closed_reason is None else now,
            g.closed_reason,
        )
        for g in outcome.gaps
        if g.id is None
    ] + [
        (e.device_id, e.kind, now, e.seq_from, e.seq_to, 0, None, None, None)
        for e in outcome.events
    ]
    if new_rows:
        cur.executemany(
            "INSERT INTO data_quality_event (device_id, kind, detected_at, seq_from, seq_to, "
            "filled, detail, closed_at, closed_reason) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            new_rows,
        )
    stored = [g for g in outcome.gaps if g.id is not None]
    if stored:
        # One statement for every stored gap the batch filled or closed: a device opening a
        # gap per message closes one per message once at its cap.
        cur.execute(
            "UPDATE data_quality_event e SET filled = u.filled, closed_reason = u.reason, "
            "closed_at = CASE WHEN u.reason IS NULL THEN NULL ELSE %s::timestamptz END "
            "FROM unnest(%s::bigint[], %s::int[], %s::text[]) AS u(id, filled, reason) "
            "WHERE e.id = u.id",
            (
                now,
                _array(g.id for g in stored),
                _array(g.filled for g in stored),
                [g.closed_reason for g in stored],
            ),
        )
    return len(new_rows)
